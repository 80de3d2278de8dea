"""API keys: made, found, listed and revoked; and `scenetag-api-keys`, the command operators manage them with.

A key is `stk_` and 43 characters of `secrets.token_urlsafe(32)` (256 random bits), shown once. The
database keeps its first 12 characters (`prefix`, to list and revoke it; far too short to use) and the
SHA-256 of the whole key. A fast hash is right here: slow password hashes (bcrypt, argon2) exist to make
guessing a *low-entropy* secret expensive, but 256 random bits cannot be guessed at any speed, and a
deliberately slow hash would cost every request tens of milliseconds of CPU that an attacker could ask
for at will. A request's key is looked up by its prefix, then its hash is compared in constant time.

    scenetag-api-keys create NAME [--per-minute N]
    scenetag-api-keys list
    scenetag-api-keys revoke PREFIX

(or `python -m web.api.keys ...`), on the database of DATABASE_URL / DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey
from storage.session import create_engine, create_sessionmaker
from storage.settings import DatabaseSettings

KEY_MARK = "stk_"  # says what a leaked string is (secret scanners, logs)
KEY_BYTES = 32
PREFIX_CHARS = 12  # the mark and 8 random characters (48 bits): names a key among millions
NAME_CHARS = 64


def generate_key() -> str:
    return KEY_MARK + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_CHARS]


def key_matches(stored_hash: str, presented: str) -> bool:
    """Constant time in where the hashes differ."""
    return hmac.compare_digest(stored_hash, hash_key(presented))


async def create_key(session: AsyncSession, name: str, per_minute: int | None = None) -> tuple[ApiKey, str]:
    """A new key's row and the key itself, which nothing stores: hand it to its owner now. (Two keys
    sharing a prefix, about one in 2^48, would fail the unique constraint rather than pass silently.)"""
    key = generate_key()
    row = ApiKey(name=name, prefix=key_prefix(key), key_hash=hash_key(key), per_minute=per_minute)
    session.add(row)
    await session.flush()
    return row, key


async def find_key(session: AsyncSession, presented: str) -> ApiKey | None:
    """The active key `presented` is, or None (unknown, wrong, or revoked)."""
    if not presented.startswith(KEY_MARK) or len(presented) <= PREFIX_CHARS:
        return None
    row = await session.scalar(select(ApiKey).where(ApiKey.prefix == key_prefix(presented)))
    if row is None or not key_matches(row.key_hash, presented) or row.revoked_at is not None:
        return None
    return row


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()


async def revoke_key(session: AsyncSession, prefix: str) -> bool:
    """Refuse the key from now on; False when no active key has this prefix."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return result.rowcount == 1


def limit_text(per_minute: int | None) -> str:
    return f"{per_minute}/min" if per_minute is not None else "default limit"


def describe(row: ApiKey) -> str:
    state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
    created = f"{row.created_at:%Y-%m-%d %H:%M}"
    return f"{row.prefix}  {row.name}  {limit_text(row.per_minute)}  created {created}  {state}"


def name_argument(value: str) -> str:
    if not value.strip() or len(value) > NAME_CHARS:
        raise argparse.ArgumentTypeError(f"a name of 1 to {NAME_CHARS} characters, got {value!r}")
    return value


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenetag-api-keys", description="Manage the HTTP API's keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it (shown once)")
    create.add_argument("name", type=name_argument, help="who or what the key is for")
    create.add_argument(
        "--per-minute",
        type=positive,
        default=None,
        help="its requests per minute (default: API_RATE_LIMIT_PER_MINUTE)",
    )
    commands.add_parser("list", help="every key: prefix, name, limit, created, active or revoked")
    revoke = commands.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("prefix", help="the key's first 12 characters, as `list` shows them")
    return parser


async def run(args: argparse.Namespace, database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            if args.command == "create":
                row, key = await create_key(session, args.name, args.per_minute)
                limit = limit_text(row.per_minute)
                print(f"created {row.prefix} for {row.name!r} ({limit}); store it now, it is shown once:")
                print(key)
            elif args.command == "list":
                rows = await list_keys(session)
                print("\n".join(map(describe, rows)) if rows else "no API keys yet")
            elif not await revoke_key(session, args.prefix):
                print(f"no active key with prefix {args.prefix!r}", file=sys.stderr)
                return 1
            else:
                print(f"revoked {args.prefix}")
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args, DatabaseSettings().effective_database_url))
    except SQLAlchemyError as error:
        reason = str(error).splitlines()[0]
        print(f"database error: {reason} (is it migrated? `alembic upgrade head`)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
