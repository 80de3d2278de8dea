"""album flags: a verdict on an album (a media group) is one flag, on the photo with its caption; the flag
keeps the media group's id and every photo of it (message id and picture hash), so "spam" blocks each picture
and delete mode deletes each photo. A known spam picture's flag keeps the blocklist entry it matched, so
"not spam" on it takes the group's entry off its list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("media_group_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("album_photos", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("matched_entry_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("matched_entry_id")
        batch.drop_column("album_photos")
        batch.drop_column("media_group_id")
