"""The model registry: every worker, on any machine, serves the version `ml promote` made active.

Where the files live: in the Redis the queue already uses. Every worker already needs `REDIS_URL`, so one
variable is enough for `ml promote` and all workers; a version is one file of ~17 MB, which a Redis string
holds easily (only the active, the canary and the last `MODEL_REGISTRY_KEEP` versions are kept); compose
runs Redis with AOF, so the files survive a restart like the queue does. An S3-compatible store would add a
service, credentials and a second client to every worker for no gain at this size; a shared directory
would require every worker machine to mount it.

A file is stored under its version, `ml.serving.model.file_version` (the sha256 prefix every result
already carries), and a worker checks that hash again after downloading it: a corrupt copy is refused and
the worker keeps its model. Model files load with `torch.load(weights_only=True)`, so whoever can write to
Redis cannot make a worker run code through a stored file (as with the queue's JSON jobs). `state` holds
the pure records and verbs, `store` their Redis side.
"""

from ml.registry.state import (
    DEFAULT_KEEP,
    RegistryError,
    RegistryState,
    VersionRecord,
    describe,
    kept_versions,
    promoted,
    rolled_back,
    with_canary,
)
from ml.registry.store import (
    change,
    fetch,
    prune_cache,
    read_generation,
    read_records,
    read_state,
    resolve,
    store,
    touch,
)

__all__ = [
    "DEFAULT_KEEP",
    "RegistryError",
    "RegistryState",
    "VersionRecord",
    "change",
    "describe",
    "fetch",
    "kept_versions",
    "promoted",
    "prune_cache",
    "read_generation",
    "read_records",
    "read_state",
    "resolve",
    "rolled_back",
    "store",
    "touch",
    "with_canary",
]
