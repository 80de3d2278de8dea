"""The registry in Redis: model files by version, their records, and the state workers follow.

Keys (all under `scenetag:models:`):
- `blob:<version>`: the model file's bytes (content-addressed: the version is its sha256 prefix);
- `records`: a hash version -> `VersionRecord` JSON (also the list of what is stored);
- `state`: the `RegistryState` JSON (active, canary and percent, history, generation);
- `generation`: the state's generation alone, which a worker GETs between batches to notice a change
  without reading anything else.

Every state change runs in a WATCH/MULTI transaction on `state` and `records`, so a reader sees the old
state or the new one, never a mix, and two operators promoting at once cannot lose each other's change.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.client import Pipeline

from ml.registry.state import RegistryError, RegistryState, VersionRecord, kept_versions

logger = logging.getLogger(__name__)

PREFIX = "scenetag:models:"
STATE_KEY = PREFIX + "state"
GENERATION_KEY = PREFIX + "generation"
RECORDS_KEY = PREFIX + "records"
VERSION_NAME = re.compile(r"[0-9a-f]{12}")  # ml.serving.model.file_version's form


def blob_key(version: str) -> str:
    return f"{PREFIX}blob:{version}"


def operator() -> str:
    """user@host of whoever runs the command, for the record."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def read_state(connection: Redis) -> RegistryState:
    raw = connection.get(STATE_KEY)
    return RegistryState.model_validate_json(raw) if raw else RegistryState()


def read_generation(connection: Redis) -> int:
    """The state's generation (0 when nothing was ever promoted): one GET, for workers to poll."""
    raw = connection.get(GENERATION_KEY)
    return int(raw) if raw else 0


def read_records(connection: Redis) -> dict[str, VersionRecord]:
    """Every stored version's record, by version."""
    stored = connection.hgetall(RECORDS_KEY)
    return {k.decode(): VersionRecord.model_validate_json(v) for k, v in stored.items()}


def resolve(connection: Redis, reference: str) -> str:
    """The stored version `reference` names: a version, or a prefix of exactly one."""
    matches = [v for v in connection.hkeys(RECORDS_KEY) if v.decode().startswith(reference)]
    if len(matches) != 1:
        found = "no stored version" if not matches else f"{len(matches)} stored versions"
        raise RegistryError(f"{found} starts with {reference!r} (`ml models` lists them)")
    return matches[0].decode()


def store(connection: Redis, path: Path, version: str, name: str, metrics: dict[str, Any]) -> VersionRecord:
    """Store the model file at `path` (whose `file_version` is `version`) with its record; storing the same
    content again only refreshes the record."""
    data = path.read_bytes()
    record = VersionRecord(version=version, name=name, size=len(data), source=str(path), metrics=metrics,
                           promoted_at=time.time(), promoted_by=operator())
    with connection.pipeline() as pipeline:  # MULTI: the blob and its record appear together
        pipeline.set(blob_key(version), data)
        pipeline.hset(RECORDS_KEY, version, record.model_dump_json())
        pipeline.execute()
    return record


def touch(connection: Redis, version: str) -> None:
    """Record that `version`, already stored, was promoted now by this operator."""
    raw = connection.hget(RECORDS_KEY, version)
    if raw is None:
        raise RegistryError(f"version {version} is not stored")
    record = VersionRecord.model_validate_json(raw)
    update = {"promoted_at": time.time(), "promoted_by": operator()}
    connection.hset(RECORDS_KEY, version, record.model_copy(update=update).model_dump_json())


def change(
    connection: Redis, step: Callable[[RegistryState], RegistryState], prune: bool = False
) -> tuple[RegistryState, RegistryState]:
    """Apply `step` to the state atomically: (before, after). Every version `after` names must be stored.
    With `prune`, the files and records of versions `after` no longer needs are deleted in the same
    transaction (what `ml promote` does, so Redis holds only the active, canary and history files)."""

    def transaction(pipeline: Pipeline) -> tuple[RegistryState, RegistryState]:
        before = read_state(pipeline)  # a watching pipeline runs reads at once
        after = step(before)
        stored = {v.decode() for v in pipeline.hkeys(RECORDS_KEY)}
        missing = kept_versions(after) - stored
        if missing:
            raise RegistryError(f"version(s) {', '.join(sorted(missing))} not stored (pruned meanwhile?)")
        pipeline.multi()
        pipeline.set(STATE_KEY, after.model_dump_json())
        pipeline.set(GENERATION_KEY, after.generation)
        for version in sorted(stored - kept_versions(after)) if prune else []:
            pipeline.delete(blob_key(version))
            pipeline.hdel(RECORDS_KEY, version)
            logger.info("pruned version %s", version)
        return before, after

    return connection.transaction(transaction, STATE_KEY, RECORDS_KEY, value_from_callable=True)


def fetch(connection: Redis, version: str, cache_dir: Path) -> Path:
    """The model file of `version` in `cache_dir` (downloaded unless a verified copy is there), its hash
    checked against the version. RegistryError when it is not stored or its bytes do not match."""
    from ml.serving import private_dir
    from ml.serving.model import file_version

    path = private_dir(cache_dir) / f"{version}.pt"
    if path.is_file() and file_version(path) == version:
        return path
    data = connection.get(blob_key(version))
    if data is None:
        raise RegistryError(f"version {version} is not stored in the registry")
    partial = cache_dir / f"{version}.pt.{os.getpid()}.tmp"  # workers sharing the folder may fetch at once
    partial.write_bytes(data)
    actual = file_version(partial)
    if actual != version:
        partial.unlink()
        raise RegistryError(f"the stored file of version {version} hashes to {actual}: corrupt, not used")
    partial.replace(path)
    return path


def prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Delete the fetched files in `cache_dir` of versions not in `keep` (what the registry still stores), so
    a worker's disk holds no more versions than Redis does. Only files named as `fetch` names them go."""
    for path in cache_dir.glob("*.pt"):
        if VERSION_NAME.fullmatch(path.stem) and path.stem not in keep:
            path.unlink(missing_ok=True)
