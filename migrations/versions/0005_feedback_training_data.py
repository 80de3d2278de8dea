"""feedback that can become training data: photo file ids, the tag picked after 👎, when each rating was
given, each flag's model version and caption scene tags; chats: keep_photo_ids (the opt-out)

Every new column is nullable (old rows have no value) except `chats.keep_photo_ids`, which existing chats
get as true: the default the README's privacy section describes, changed per chat with /settings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUGGESTION_COLUMNS = (
    ("file_id", sa.String(length=255)),
    ("feedback_at", sa.DateTime(timezone=True)),
    ("corrected_tag", sa.String(length=32)),
    ("corrected_at", sa.DateTime(timezone=True)),
)
FLAG_COLUMNS = (
    ("file_unique_id", sa.String(length=64)),
    ("file_id", sa.String(length=255)),
    ("caption_scene_tags", sa.JSON()),
    ("model_version", sa.String(length=64)),
    ("verdict_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("keep_photo_ids", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("chats") as batch:
        batch.alter_column("keep_photo_ids", server_default=None)
    for table, columns in (("suggestions", SUGGESTION_COLUMNS), ("flags", FLAG_COLUMNS)):
        with op.batch_alter_table(table) as batch:
            for name, type_ in columns:
                batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for table, columns in (("flags", FLAG_COLUMNS), ("suggestions", SUGGESTION_COLUMNS)):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(columns):
                batch.drop_column(name)
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("keep_photo_ids")
