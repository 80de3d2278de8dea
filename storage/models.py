"""Typed SQLAlchemy 2 models. Never a photo's bytes: only Telegram's file_unique_id and, unless the chat
opted out (`chats.keep_photo_ids`), its file_id, through which `ml feedback export` fetches labelled photos.

The schema is owned by Alembic (`migrations/`); a test checks these models and the migrated schema agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, ForeignKey, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Chat(Base):
    """A Telegram chat the bot has seen, with its moderation settings."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Telegram chat id
    type: Mapped[str] = mapped_column(String(16))  # private / group / supergroup / channel
    photos_seen: Mapped[int] = mapped_column(Integer, default=0)
    moderation_enabled: Mapped[bool] = mapped_column(default=False)
    moderation_mode: Mapped[str] = mapped_column(String(16), default="flag")  # moderation.verdict
    moderation_sensitivity: Mapped[str] = mapped_column(String(16))  # moderation.verdict.Sensitivity
    moderation_min_hashtags: Mapped[int] = mapped_column(Integer)
    # Keep the file_id of rated photos and flags, so they can become training data (/settings opts out).
    keep_photo_ids: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChatDay(Base):
    """Photos a chat sent on one UTC day (what `/stats` charts; `Chat.photos_seen` is the running total)."""

    __tablename__ = "chat_days"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    photos: Mapped[int] = mapped_column(Integer, default=0)


class Member(Base):
    """A group member as moderation knows them (`moderation.trust`): clean posts in a row, reset by a flag,
    and an admin's approval (`/trust`)."""

    __tablename__ = "members"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    clean_posts: Mapped[int] = mapped_column(Integer, default=0)
    approved_by: Mapped[int | None] = mapped_column(BigInteger)  # the admin who trusted them
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Suggestion(Base):
    """One classified photo and what was suggested; `feedback` is the user's 👍/👎 and, after 👎, the tag
    they picked instead (`corrected_tag`)."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    file_unique_id: Mapped[str] = mapped_column(String(64))
    # Telegram's id to download the photo again; None when the chat opted out (and for old rows).
    file_id: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(32))  # None: the model abstained; else the best offered
    confidence: Mapped[float] = mapped_column(Float)  # probability of the argmax tag
    # Every tag offered, best first, as {"tag", "probability"}: one sure tag or a ranked list; [] when the
    # model abstained; None for rows from before lists (migration 0007).
    offered: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)  # photo received -> result in hand
    feedback: Mapped[str | None] = mapped_column(String(8))  # "up" / "down"
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The tag the user picked: after 👎 (an ml.tags label; `other` for "none of these"), or after 👍 on a
    # list, which of its tags.
    corrected_tag: Mapped[str | None] = mapped_column(String(32))
    corrected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Flag(Base):
    """A group photo the bot acted on: its caption hashtags contradicted the predicted scene (reason
    `mismatch`), it matched a known spam picture (`known_spam_picture`), or an admin called it spam
    (`admin_spam`, action `admin`: a photo the bot had let pass)."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # None when sent on behalf of a chat
    # The photo: file_id as for suggestions (None when the chat opted out, and for old rows).
    file_unique_id: Mapped[str | None] = mapped_column(String(64))
    file_id: Mapped[str | None] = mapped_column(String(255))
    caption_tags: Mapped[list[str]] = mapped_column(JSON)  # the caption's scene hashtags
    # The scene tags those hashtags name together (None for old rows): what an admin's "not spam" confirms.
    caption_scene_tags: Mapped[list[str] | None] = mapped_column(JSON)
    predicted_tag: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)  # probability of predicted_tag
    model_version: Mapped[str | None] = mapped_column(String(64))  # the model that made it (None: old rows)
    # The probability the model gave the caption's scenes (None for flags recorded before it was kept).
    compatible_probability: Mapped[float | None] = mapped_column(Float)
    # moderation.verdict.Action taken: flag / delete / record, or admin (an admin's "spam" on a photo the bot
    # let pass)
    action: Mapped[str] = mapped_column(String(16))
    # moderation.verdict.Reason (None for rows from before migration 0008: all were `mismatch`).
    reason: Mapped[str | None] = mapped_column(String(32))
    # The photo's perceptual hash (moderation.blocklist), what a "spam" verdict adds to the blocklist.
    picture_hash: Mapped[str | None] = mapped_column(String(32))
    # An album's flag (on its captioned photo): the media group and every photo of it, as AlbumPhoto dicts
    # ({"message_id", "picture_hash"}). None for a single photo.
    media_group_id: Mapped[str | None] = mapped_column(String(64))
    album_photos: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    # A known spam picture's catch: the blocklist entry it matched (an admin's "not spam" takes a group's
    # own entry off its list). No foreign key: the entry may be removed while the flag stays.
    matched_entry_id: Mapped[int | None] = mapped_column(Integer)
    admin_verdict: Mapped[str | None] = mapped_column(String(16))  # "not_spam" / "spam" once an admin says so
    verdict_by: Mapped[int | None] = mapped_column(BigInteger)  # the admin's user id
    verdict_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def message_ids(self) -> list[int]:
        """The photos the flag is about: the message, or every photo of its album."""
        if not self.album_photos:
            return [self.message_id]
        return [int(str(photo["message_id"])) for photo in self.album_photos]

    @property
    def picture_hashes(self) -> list[str]:
        """The flag's pictures' perceptual hashes (an album's, each once), what "spam" blocks."""
        album = self.album_photos or ()
        hashes = [str(photo["picture_hash"]) for photo in album if photo.get("picture_hash")]
        return list(dict.fromkeys([self.picture_hash, *hashes] if self.picture_hash else hashes))


class SpamPicture(Base):
    """A known spam picture: a later photo within moderation.blocklist.MAX_DISTANCE of its hash is flagged
    whatever its caption says. `chat_id` None: on every group's list (an operator's choice)."""

    __tablename__ = "spam_pictures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(String(32))  # hex pHash (moderation.blocklist.picture_hash)
    added_by: Mapped[int] = mapped_column(BigInteger)  # the admin's (or operator's) user id
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The flag whose "spam" verdict added it (None once that flag is gone).
    source_flag_id: Mapped[int | None] = mapped_column(ForeignKey("flags.id", ondelete="SET NULL"))
    hits: Mapped[int] = mapped_column(Integer, default=0)  # later photos it caught


class ApiKey(Base):
    """A key of the HTTP API (`web.api`). Only its SHA-256 is stored: the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # who or what it is for
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the key's first characters: list, revoke
    key_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the whole key
    per_minute: Mapped[int | None] = mapped_column(Integer)  # its rate limit; None: API_RATE_LIMIT_PER_MINUTE
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set: refused from then on
