"""Users' feedback as labelled photos: `ml feedback export` (the CLI is `ml.cli.feedback`).

Which rows become which label (`label_of_suggestion`, `label_of_flag`):
- a 👍 on a suggestion of one tag: that tag (source `up`);
- a 👍 on a ranked list followed by "which one?": the listed tag picked (source `picked`); a 👍 on a list
  without a pick says only that one of its tags fits, so it is not exported;
- a 👎 followed by "which tag fits?": the tag picked, `other` for "none of these" (source `corrected`);
- an admin's "not spam" on a flag: the caption's scene tag, when the caption's hashtags name exactly one
  scene tag between them (`#beach #sea` both name `water`); a caption naming several is ambiguous and
  skipped, since the admin said only that the caption fits, not which of its scenes the photo shows
  (source `admin`);
- an admin's "spam" on a flag the model judged (the caption contradicted the photo): the tag the model gave
  the photo, which the admin's verdict bears out as far as it goes (the photo is not what the caption says;
  source `admin_spam`); a "spam" on a photo no model judged (a known spam picture, an admin's own `/spam` on
  a photo the bot let pass) has no tag to give and is skipped like an ambiguous "not spam".
A 👎 without a pick, unrated suggestions, other flags and rows without a file_id (the chat opted out, or
rows from before file ids were kept) are never exported.

The photos are fetched through the Bot API (`getFile`, then the file URL) into
`OUT/<tag>/<file_unique_id>.jpg`, the layout `ml train` reads, with `OUT/manifest.csv` (one row per exported
record; for a suggestion, `offered` holds the tags it offered, best first). A photo already in OUT is not
downloaded again, and the manifest keeps the rows of earlier runs, so the export can be re-run (with a later
`--since`, too). Photos Telegram no longer serves are counted as gone; network failures are counted as failed
and retried by the next run.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from tqdm import tqdm

from config import BotApiSettings
from ml.tags import ALL_LABELS
from storage import repository
from storage.models import Flag, Suggestion
from storage.session import create_engine, create_sessionmaker
from storage.settings import DatabaseSettings

logger = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
# A label's source.
UP, PICKED, CORRECTED, ADMIN, ADMIN_SPAM = "up", "picked", "corrected", "admin", "admin_spam"
# Telegram's file_unique_id is URL-safe base64; anything else must not become a path.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
HTTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Labelled:
    """One record that can become a training photo."""

    kind: str  # "suggestion" / "flag"
    record_id: int
    file_id: str  # what getFile needs
    file_unique_id: str  # stable across bots: the photo's file name
    tag: str  # an ml.tags label
    source: str  # UP / PICKED / CORRECTED / ADMIN / ADMIN_SPAM
    model_version: str | None  # the model whose suggestion or flag was rated
    rated_at: datetime  # when the user rated it, or the admin gave the verdict (UTC)
    offered: tuple[str, ...] = ()  # a suggestion's tags offered, best first (none for flags and old rows)

    @property
    def path(self) -> str:
        """Relative to the export folder, '/'-separated."""
        return f"{self.tag}/{self.file_unique_id}.jpg"


@dataclass(frozen=True)
class ManifestRow:
    path: str
    tag: str
    source: str
    kind: str
    record_id: int
    model_version: str
    rated_at: str  # ISO 8601, UTC
    offered: str = ""  # the tags offered, best first, space-separated (manifests of older runs lack it)

    @classmethod
    def of(cls, record: Labelled) -> ManifestRow:
        return cls(
            path=record.path,
            tag=record.tag,
            source=record.source,
            kind=record.kind,
            record_id=record.record_id,
            model_version=record.model_version or "",
            rated_at=record.rated_at.isoformat(),
            offered=" ".join(record.offered),
        )

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.record_id


MANIFEST_COLUMNS = [column.name for column in fields(ManifestRow)]


@dataclass
class Summary:
    """What an export did; printed as one JSON line."""

    exported: int = 0  # downloaded now
    already_there: int = 0  # in OUT from an earlier run: not downloaded again
    gone: int = 0  # Telegram no longer serves the photo
    # an admin's verdict with no one tag: "not spam" on a caption naming several (or no) scene tags, "spam" on
    # a photo no model judged
    ambiguous: int = 0
    failed: int = 0  # network or server errors: the next run tries again
    failures: list[str] = field(default_factory=list)  # one line each, for the log

    def counts(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if name != "failures"}


def label_of_suggestion(
    tag: str | None, feedback: str | None, corrected_tag: str | None, offered: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(label, source) of a rated suggestion, or None when it teaches nothing (👎 without a pick, 👍 on a
    list without a pick). `offered`: its tags, best first (empty for rows from before lists)."""
    if corrected_tag is not None:
        return corrected_tag, PICKED if feedback == "up" else CORRECTED
    if feedback == "up" and tag is not None and len(offered) <= 1:
        return tag, UP
    return None


def label_of_flag(
    admin_verdict: str | None, caption_scene_tags: Sequence[str] | None, predicted_tag: str = ""
) -> tuple[str, str] | None:
    """(label, source) of an admin's verdict: after "not spam" the caption's one scene tag, after "spam" the
    model's tag (`predicted_tag`, empty when no model judged the photo); None when there is no one tag."""
    if admin_verdict == repository.SPAM:
        return (predicted_tag, ADMIN_SPAM) if predicted_tag in ALL_LABELS else None
    scenes = set(caption_scene_tags or ())
    if admin_verdict != repository.NOT_SPAM or len(scenes) != 1:
        return None
    return scenes.pop(), ADMIN


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def labelled_records(
    suggestions: Iterable[Suggestion], flags: Iterable[Flag], since: date | None = None
) -> tuple[list[Labelled], int]:
    """The exportable records rated on or after `since`, and how many admin verdicts were ambiguous."""
    records: list[Labelled] = []
    ambiguous = 0
    for suggestion in suggestions:
        offered = tuple(str(entry["tag"]) for entry in suggestion.offered or ())
        label = label_of_suggestion(suggestion.tag, suggestion.feedback, suggestion.corrected_tag, offered)
        if label is None or suggestion.file_id is None:
            continue
        tag, source = label
        rated = suggestion.corrected_at if source in (PICKED, CORRECTED) else suggestion.feedback_at
        records.append(
            Labelled(
                "suggestion",
                suggestion.id,
                suggestion.file_id,
                suggestion.file_unique_id,
                tag,
                source,
                suggestion.model_version,
                as_utc(rated or suggestion.created_at),
                offered,
            )
        )
    for flag in flags:
        # file_unique_id is written with file_id; rows without one predate both.
        if flag.file_id is None or flag.file_unique_id is None:
            continue
        label = label_of_flag(flag.admin_verdict, flag.caption_scene_tags, flag.predicted_tag)
        if label is None:
            ambiguous += flag.admin_verdict in repository.VERDICTS
            continue
        tag, source = label
        records.append(
            Labelled(
                "flag",
                flag.id,
                flag.file_id,
                flag.file_unique_id,
                tag,
                source,
                flag.model_version,
                as_utc(flag.verdict_at or flag.created_at),
            )
        )
    usable = [r for r in records if r.tag in ALL_LABELS and SAFE_NAME.match(r.file_unique_id)]
    if len(usable) != len(records):
        logger.warning("skipped %d record(s) with an unknown tag or odd file id", len(records) - len(usable))
    if since is not None:
        usable = [r for r in usable if r.rated_at.date() >= since]
    return usable, ambiguous


def read_manifest(path: Path) -> dict[tuple[str, int], ManifestRow]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as file:
        rows = [
            ManifestRow(**{**row, "record_id": int(row["record_id"])}) for row in csv.DictReader(file)
        ]
    return {row.key: row for row in rows}


def write_manifest(path: Path, rows: Iterable[ManifestRow]) -> None:
    """All rows, sorted by record; written to a temporary file first, so a crash never truncates it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(row) for row in sorted(rows, key=lambda row: row.key))
    os.replace(temporary, path)


class PhotoGone(Exception):
    """Telegram no longer serves this file (getFile refused it, or the download is not found)."""


class TokenRefused(Exception):
    """The Bot API refused BOT_TOKEN: no photo can be fetched, so the export stops."""


class DownloadFailed(Exception):
    """A download failed for a reason worth retrying; the message names the step and the HTTP status or the
    error's kind, never the URL (the Bot API's URLs carry BOT_TOKEN)."""


def _ok(response: httpx.Response, step: str) -> httpx.Response:
    if response.is_error:
        raise DownloadFailed(f"{step}: HTTP {response.status_code}")
    return response


class BotApiFiles:
    """Downloads files by file_id through the Bot API (the same endpoints the bot uses)."""

    def __init__(self, client: httpx.Client, settings: BotApiSettings) -> None:
        self._client = client
        self._method_url = f"{settings.telegram_base_url}{settings.bot_token}/getFile"
        self._file_url = f"{settings.telegram_base_file_url}{settings.bot_token}/"

    def download(self, file_id: str) -> bytes:
        """The file's bytes; PhotoGone when Telegram no longer has it, TokenRefused for a bad BOT_TOKEN,
        DownloadFailed on other failures (httpx's own errors name the URL, hence the token: not passed on)."""
        try:
            response = self._client.post(self._method_url, json={"file_id": file_id})
            if response.status_code in (401, 403):
                raise TokenRefused(f"the Bot API refused BOT_TOKEN ({response.status_code})")
            if response.status_code in (400, 404):  # "Bad Request: invalid file_id" / "file not found"
                raise PhotoGone(response.json().get("description", response.reason_phrase))
            file_path = _ok(response, "getFile").json()["result"]["file_path"]
            download = self._client.get(self._file_url + file_path)
            if download.status_code == 404:
                raise PhotoGone("file not found")
            return _ok(download, "download").content
        except httpx.HTTPError as error:
            raise DownloadFailed(type(error).__name__) from None
        except (ValueError, KeyError, TypeError):  # not the JSON the Bot API answers
            raise DownloadFailed("malformed Bot API answer") from None


def save(target: Path, data: bytes) -> None:
    """Through a temporary name: an interrupted run never leaves a half photo that the next one would skip."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, target)


def export_records(records: Sequence[Labelled], out: Path, files: BotApiFiles, summary: Summary) -> None:
    """Fetch each record's photo into `out` (skipping those there) and merge their rows into the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out / MANIFEST)
    try:
        for record in tqdm(records, desc="photos", unit="photo"):
            target = out / record.path
            if target.is_file():
                summary.already_there += 1
            else:
                try:
                    save(target, files.download(record.file_id))
                except PhotoGone as gone:
                    logger.debug("%s %d: gone (%s)", record.kind, record.record_id, gone)
                    summary.gone += 1
                    continue
                except DownloadFailed as error:  # network, server, malformed reply
                    summary.failed += 1
                    summary.failures.append(f"{record.kind} {record.record_id}: {error}")
                    continue
                summary.exported += 1
            row = ManifestRow.of(record)
            manifest[row.key] = row
    finally:  # also when interrupted: the photos saved so far are listed
        write_manifest(out / MANIFEST, manifest.values())


async def _read(database: DatabaseSettings) -> tuple[Sequence[Suggestion], Sequence[Flag]]:
    engine = create_engine(database.effective_database_url)  # the URL is async (aiosqlite / asyncpg)
    try:
        async with create_sessionmaker(engine)() as session:
            return await repository.training_feedback(session)
    finally:
        await engine.dispose()


def export(out: Path, *, since: date | None, database: DatabaseSettings, api: BotApiSettings) -> Summary:
    """`ml feedback export`: read the labelled feedback from the database and fetch its photos into `out`."""
    suggestions, flags = asyncio.run(_read(database))
    records, ambiguous = labelled_records(suggestions, flags, since)
    summary = Summary(ambiguous=ambiguous)
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
        export_records(records, out, BotApiFiles(client, api), summary)
    return summary
