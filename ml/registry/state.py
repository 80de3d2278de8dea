"""What the registry records and how each operator verb changes it: pure functions on plain values.

`RegistryState` is the one record every worker follows (which version is active, which is the canary and
for what share of photos, and the previous active versions `ml rollback` returns to); `VersionRecord` is
what is known of one stored version. The verbs return a new state and raise `RegistryError` with a
sentence an operator can act on; `ml.registry.store` applies them to Redis atomically.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_KEEP = 3  # previous active versions kept for rollback (with their files)


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (the message says why)."""


class RegistryState(BaseModel):
    """Which stored versions serve photos. Written whole, in one transaction, so it is never half-updated."""

    model_config = ConfigDict(frozen=True)

    generation: int = 0  # increases with every change; workers compare it to notice one
    active: str | None = None  # the version answering photos; None: workers serve their MODEL_PATH
    canary: str | None = None  # a candidate answering `canary_percent` % of photos, or None
    canary_percent: int = Field(default=0, ge=0, le=99)
    history: list[str] = Field(default_factory=list)  # earlier active versions, the most recent last


class VersionRecord(BaseModel):
    """One stored model file: what it is, where it came from, and the metrics written into it."""

    model_config = ConfigDict(frozen=True)

    version: str  # ml.serving.model.file_version: the first 12 hex digits of the file's sha256
    name: str  # the classifier's name, e.g. "efficientnet-lite0-scenes100"
    size: int  # bytes
    source: str  # the path it was promoted from
    metrics: dict[str, Any] = Field(default_factory=dict)  # the model file's spec.metrics
    promoted_at: float  # unix time of the last `ml promote` naming it
    promoted_by: str  # user@host of that promote


def promoted(state: RegistryState, version: str, keep: int = DEFAULT_KEEP) -> RegistryState:
    """`version` becomes active; the active one goes to the history (the last `keep` kept) and any canary
    ends (promoting the canary's own version is how a canary is finished)."""
    history = [v for v in state.history if v != version]
    if state.active is not None and state.active != version:
        history.append(state.active)
    kept = history[-keep:] if keep else []
    return RegistryState(generation=state.generation + 1, active=version, history=kept)


def with_canary(state: RegistryState, version: str, percent: int) -> RegistryState:
    """`version` answers `percent` % of photos (1-99) next to the active version."""
    if not 1 <= percent <= 99:
        raise RegistryError(f"a canary takes 1-99 % of photos, not {percent}; promote it fully instead")
    if state.active is None:
        raise RegistryError("no active version to compare a canary with: promote one first "
                            "(e.g. `ml promote ml/models/default.pt`)")
    if version == state.active:
        raise RegistryError(f"{version} is already the active version")
    return state.model_copy(update={"generation": state.generation + 1, "canary": version,
                                    "canary_percent": percent})


def rolled_back(state: RegistryState) -> RegistryState:
    """Undo the last step: end a running canary (the active version stays), else make the previous active
    version active again."""
    if state.canary is not None:
        return state.model_copy(update={"generation": state.generation + 1, "canary": None,
                                        "canary_percent": 0})
    if not state.history:
        raise RegistryError("nothing to roll back to: no canary runs and no earlier active version is kept")
    *earlier, previous = state.history
    return RegistryState(generation=state.generation + 1, active=previous, history=earlier)


def kept_versions(state: RegistryState) -> set[str]:
    """The versions whose files must stay stored: the active, the canary and the history."""
    return {v for v in (state.active, state.canary, *state.history) if v is not None}


def describe(state: RegistryState) -> str:
    """One line for the operator, e.g. 'active 3a21ac7e152f, canary 9b0c... on 10 % of photos'."""
    if state.active is None:
        return "no active version: workers serve their MODEL_PATH"
    if state.canary is None:
        return f"active {state.active}, no canary"
    return f"active {state.active}, canary {state.canary} on {state.canary_percent} % of photos"
