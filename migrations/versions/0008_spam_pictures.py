"""spam_pictures: the blocklist of known spam pictures (a group's, or every group's when chat_id is NULL),
and flags.reason (why the bot acted: a caption mismatch, a known spam picture, an admin's "spam") and
flags.picture_hash (the photo's perceptual hash, which a "spam" verdict adds to the blocklist)

Nullable: flags from before have neither (all of them were caption mismatches).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("picture_hash", sa.String(length=32), nullable=True))
    op.create_table(
        "spam_pictures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=32), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("source_flag_id", sa.Integer(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_spam_pictures_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_flag_id"],
            ["flags.id"],
            name=op.f("fk_spam_pictures_source_flag_id_flags"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spam_pictures")),
    )
    op.create_index(op.f("ix_spam_pictures_chat_id"), "spam_pictures", ["chat_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_spam_pictures_chat_id"), table_name="spam_pictures")
    op.drop_table("spam_pictures")
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("picture_hash")
        batch.drop_column("reason")
