"""chats: moderation sensitivity in words (strict / balanced / lenient) instead of a confidence threshold;
flags: the probability the model gave the caption's scenes

The old threshold was the top tag's confidence needed to flag: the higher, the fewer flags. Existing
chats keep their intent: threshold > 0.675 (0.7 and up) -> lenient, < 0.525 (0.5 and below) -> strict,
else (0.55-0.65, the default 0.6) balanced. The cut points sit between the 0.05 steps /settings allowed,
so float rounding cannot move a chat across. Downgrade maps back to 0.5 / 0.6 / 0.7.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

chats = sa.table(
    "chats",
    sa.column("moderation_threshold", sa.Float()),
    sa.column("moderation_sensitivity", sa.String(length=16)),
)
THRESHOLD_OF_SENSITIVITY = {"strict": 0.5, "balanced": 0.6, "lenient": 0.7}


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(
            sa.Column(
                "moderation_sensitivity", sa.String(length=16), nullable=False, server_default="balanced"
            )
        )
    op.execute(
        chats.update().values(
            moderation_sensitivity=sa.case(
                (chats.c.moderation_threshold > 0.675, "lenient"),
                (chats.c.moderation_threshold < 0.525, "strict"),
                else_="balanced",
            )
        )
    )
    with op.batch_alter_table("chats") as batch:
        batch.alter_column("moderation_sensitivity", server_default=None)
        batch.drop_column("moderation_threshold")
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("compatible_probability", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("compatible_probability")
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("moderation_threshold", sa.Float(), nullable=False, server_default="0.6"))
    op.execute(
        chats.update().values(
            moderation_threshold=sa.case(
                *(
                    (chats.c.moderation_sensitivity == word, threshold)
                    for word, threshold in THRESHOLD_OF_SENSITIVITY.items()
                ),
                else_=0.6,
            )
        )
    )
    with op.batch_alter_table("chats") as batch:
        batch.alter_column("moderation_threshold", server_default=None)
        batch.drop_column("moderation_sensitivity")
