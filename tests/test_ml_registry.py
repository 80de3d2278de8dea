"""ml.registry: the verbs on the state (pure), and the store on a private redis-server: files by version,
atomic state changes, pruning, hash-checked fetches, and readers that never see a half-written state."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from redis import Redis

from ml import registry
from ml.registry import RegistryError, RegistryState
from ml.registry.store import GENERATION_KEY, RECORDS_KEY, STATE_KEY, blob_key
from ml.serving.model import file_version


def stored_file(connection: Redis, folder: Path, content: bytes) -> str:
    """Store a file of `content` (the store never loads it) and return its version."""
    path = folder / f"{len(list(folder.iterdir()))}.pt"
    path.write_bytes(content)
    version = file_version(path)
    registry.store(connection, path, version, "net", {"heldout_tta1": {"accuracy": 0.5}})
    return version


# --- the verbs, pure -------------------------------------------------------------------------------------


def test_promote_moves_the_active_version_to_the_history_and_ends_a_canary() -> None:
    state = registry.promoted(RegistryState(), "a")
    assert (state.active, state.history, state.generation) == ("a", [], 1)
    state = registry.with_canary(registry.promoted(state, "b"), "c", 10)
    assert (state.active, state.canary, state.canary_percent, state.history) == ("b", "c", 10, ["a"])
    finished = registry.promoted(state, "c")
    assert (finished.active, finished.canary, finished.canary_percent, finished.history) == ("c", None, 0,
                                                                                             ["a", "b"])
    assert finished.generation == state.generation + 1


def test_history_keeps_the_last_versions_without_repeats() -> None:
    state = RegistryState()
    for version in "abcde":
        state = registry.promoted(state, version, keep=3)
    assert state.history == ["b", "c", "d"]
    again = registry.promoted(state, "c", keep=3)  # an old version made active again leaves the history
    assert (again.active, again.history) == ("c", ["b", "d", "e"])
    assert registry.promoted(state, "f", keep=0).history == []


def test_rollback_ends_a_canary_first_then_returns_to_the_previous_version() -> None:
    state = registry.with_canary(registry.promoted(registry.promoted(RegistryState(), "a"), "b"), "c", 25)
    state = registry.rolled_back(state)
    assert (state.active, state.canary, state.history) == ("b", None, ["a"])
    state = registry.rolled_back(state)
    assert (state.active, state.history) == ("a", [])
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rolled_back(state)


@pytest.mark.parametrize(("state", "version", "percent", "message"), [
    (RegistryState(), "b", 10, "no active version"),
    (RegistryState(active="a"), "a", 10, "already the active"),
    (RegistryState(active="a"), "b", 0, "1-99"),
    (RegistryState(active="a"), "b", 100, "1-99"),
])
def test_a_canary_needs_an_active_version_and_a_share(
    state: RegistryState, version: str, percent: int, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.with_canary(state, version, percent)


def test_describe_says_what_serves() -> None:
    assert "MODEL_PATH" in registry.describe(RegistryState())
    state = RegistryState(active="a", canary="b", canary_percent=10)
    assert registry.describe(state) == "active a, canary b on 10 % of photos"


# --- the store, on Redis ---------------------------------------------------------------------------------


def test_a_stored_file_is_found_by_version_or_prefix(redis_conn: Redis, tmp_path: Path) -> None:
    version = stored_file(redis_conn, tmp_path, b"model one")
    assert redis_conn.get(blob_key(version)) == b"model one"
    record = registry.read_records(redis_conn)[version]
    assert (record.name, record.size, record.metrics) == ("net", 9, {"heldout_tta1": {"accuracy": 0.5}})
    assert "@" in record.promoted_by
    assert registry.resolve(redis_conn, version[:5]) == version
    with pytest.raises(RegistryError, match="no stored version"):
        registry.resolve(redis_conn, "zz")


def test_change_writes_the_state_and_its_generation_together(redis_conn: Redis, tmp_path: Path) -> None:
    assert registry.read_state(redis_conn) == RegistryState() and registry.read_generation(redis_conn) == 0
    version = stored_file(redis_conn, tmp_path, b"model one")
    before, after = registry.change(redis_conn, lambda s: registry.promoted(s, version))
    assert before == RegistryState()
    assert registry.read_state(redis_conn) == after and after.active == version
    assert registry.read_generation(redis_conn) == after.generation == 1


def test_a_version_that_is_not_stored_cannot_be_made_active(redis_conn: Redis) -> None:
    with pytest.raises(RegistryError, match="not stored"):
        registry.change(redis_conn, lambda s: registry.promoted(s, "0123456789ab"))
    assert redis_conn.get(STATE_KEY) is None and redis_conn.get(GENERATION_KEY) is None


def promote_file(connection: Redis, folder: Path, content: bytes, keep: int = 3) -> str:
    """What `ml promote FILE` does: store it, then make it active, pruning what is no longer needed."""
    version = stored_file(connection, folder, content)
    registry.change(connection, lambda s: registry.promoted(s, version, keep=keep), prune=True)
    return version


def test_promote_prunes_all_but_the_active_canary_and_history(redis_conn: Redis, tmp_path: Path) -> None:
    versions = [promote_file(redis_conn, tmp_path, f"model {i}".encode(), keep=2) for i in range(4)]
    canary = stored_file(redis_conn, tmp_path, b"candidate")
    registry.change(redis_conn, lambda s: registry.with_canary(s, canary, 10), prune=True)
    kept = {versions[1], versions[2], versions[3], canary}  # history 2, active, canary
    assert set(registry.read_records(redis_conn)) == kept
    assert redis_conn.exists(blob_key(versions[0])) == 0
    assert all(redis_conn.exists(blob_key(v)) for v in kept)


def test_rollback_does_not_prune(redis_conn: Redis, tmp_path: Path) -> None:
    first, second = (promote_file(redis_conn, tmp_path, content) for content in (b"one", b"two"))
    registry.change(redis_conn, registry.rolled_back)
    # The version rolled back from stays stored, so `ml promote VERSION` can bring it back.
    assert set(registry.read_records(redis_conn)) == {first, second}


def test_fetch_verifies_the_hash_and_caches_by_version(redis_conn: Redis, tmp_path: Path) -> None:
    files, cache = tmp_path / "files", tmp_path / "cache"
    files.mkdir()
    version = stored_file(redis_conn, files, b"model one")
    path = registry.fetch(redis_conn, version, cache)
    assert path == cache / f"{version}.pt" and path.read_bytes() == b"model one"
    redis_conn.delete(blob_key(version))
    assert registry.fetch(redis_conn, version, cache) == path  # the verified copy, no download
    path.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="not stored"):
        registry.fetch(redis_conn, version, cache)


def test_prune_cache_keeps_what_the_registry_stores(tmp_path: Path) -> None:
    kept, dropped = "0123456789ab", "ba9876543210"
    for name in (f"{kept}.pt", f"{dropped}.pt", "default.pt", f"{dropped}.pt.77.tmp"):
        (tmp_path / name).write_bytes(b"x")
    registry.prune_cache(tmp_path, {kept})
    # Only fetched files (named by version) of versions no longer stored go; anything else stays.
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {f"{kept}.pt", "default.pt", f"{dropped}.pt.77.tmp"}
    registry.prune_cache(tmp_path / "never-created", {kept})


def test_a_corrupt_stored_file_is_refused(redis_conn: Redis, tmp_path: Path) -> None:
    files, cache = tmp_path / "files", tmp_path / "cache"
    files.mkdir()
    version = stored_file(redis_conn, files, b"model one")
    redis_conn.set(blob_key(version), b"model one, with a flipped bit")
    with pytest.raises(RegistryError, match="corrupt"):
        registry.fetch(redis_conn, version, cache)
    assert list(cache.iterdir()) == []  # nothing half-written is left for the next fetch


def test_concurrent_changes_are_never_lost_nor_seen_half_written(
    redis_conn: Redis, redis_url: str, tmp_path: Path
) -> None:
    versions = [stored_file(redis_conn, tmp_path, f"model {i}".encode()) for i in range(2)]
    registry.change(redis_conn, lambda s: registry.promoted(s, versions[0]))
    seen: list[RegistryState] = []
    writing = threading.Event()

    def other(state: RegistryState) -> str:
        return versions[1] if state.active == versions[0] else versions[0]

    def promote(connection: Redis) -> None:
        for _ in range(30):
            registry.change(connection, lambda s: registry.promoted(s, other(s)))

    def start_canary(connection: Redis) -> None:
        for _ in range(30):
            registry.change(connection, lambda s: registry.with_canary(s, other(s), 20))

    def read(connection: Redis) -> None:
        while writing.is_set():
            seen.append(registry.read_state(connection))

    def on_own_connection(target: object) -> threading.Thread:
        def run() -> None:
            with Redis.from_url(redis_url) as connection:
                target(connection)  # type: ignore[operator]
        return threading.Thread(target=run)

    writing.set()
    readers = [on_own_connection(read) for _ in range(2)]
    writers = [on_own_connection(promote), on_own_connection(start_canary)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    writing.clear()
    for thread in readers:
        thread.join()
    # Each of the 61 changes applied to the state before it (none lost to the other writer) ...
    assert registry.read_generation(redis_conn) == registry.read_state(redis_conn).generation == 61
    # ... and every state a reader saw is one a verb produced: a canary only ever beside another version.
    assert seen
    for state in seen:
        assert state.active in versions
        assert state.canary is None or (state.canary != state.active and state.canary_percent == 20)
    assert set(redis_conn.hkeys(RECORDS_KEY)) == {v.encode() for v in versions}
