"""suggestions.offered: every tag offered for the photo, best first (one sure tag, or a ranked list of up to
three when none is sure alone), so a 👍 on a list and the tag picked from it keep their meaning

Nullable: rows from before have no list (their `tag` was the one offered, if any).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("offered", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_column("offered")
