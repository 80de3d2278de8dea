"""The lock files the Docker images install from (requirements/*.lock, scripts/lock.sh) are in step with
pyproject.toml: every dependency of an image's extra is pinned there at a version its range allows, every
pin carries its hashes, and the Dockerfile installs each image from its lock with --require-hashes."""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.lock_support import IMAGES, ROOT, TORCH_FAMILY, project_name, requirements

# `name==version \` then its `--hash=...` continuation lines.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*)==(?P<version>\S+)(?P<rest>(?:[^\n]*\\\n)*[^\n]*)", re.M)


def pins(image: str) -> dict[str, tuple[Version, str]]:
    text = (ROOT / "requirements" / f"{image}.lock").read_text()
    return {
        project_name(m["name"]): (Version(m["version"]), m["rest"]) for m in PIN.finditer(text)
    }


def leave_out(image: str) -> frozenset[str]:
    return TORCH_FAMILY if image == "worker" else frozenset()


@pytest.mark.parametrize("image", IMAGES)
def test_every_dependency_is_pinned_within_its_range(image: str) -> None:
    locked = pins(image)
    for line in requirements(image, leave_out(image)):
        wanted = Requirement(line)
        name = project_name(wanted.name)
        assert name in locked, f"{name} ({image}) is not in requirements/{image}.lock: run scripts/lock.sh"
        version = locked[name][0]
        assert wanted.specifier.contains(version, prereleases=True), (
            f"requirements/{image}.lock pins {name}=={version}, outside pyproject.toml's {wanted.specifier}: "
            "run scripts/lock.sh"
        )


@pytest.mark.parametrize("image", IMAGES)
def test_every_pin_carries_hashes(image: str) -> None:
    for name, (_, rest) in pins(image).items():
        assert "--hash=sha256:" in rest, f"{name} in requirements/{image}.lock has no hash"


def test_the_worker_lock_leaves_torch_to_its_own_file() -> None:
    assert not TORCH_FAMILY & set(pins("worker"))


def test_the_images_install_from_their_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for image in IMAGES:
        assert f"--require-hashes --no-deps -r requirements/{image}.lock" in dockerfile, image


def test_the_floors_above_known_advisories() -> None:
    floors = {"torch": "2.6", "python-multipart": "0.0.18", "starlette": "0.49.1", "h11": "0.16"}
    declared = {
        project_name(Requirement(line).name): Requirement(line).specifier
        for extra in ("worker", "web")
        for line in requirements(extra)
    }
    for name, floor in floors.items():
        assert not declared[name].contains(_just_below(floor)), f"{name} still allows a release below {floor}"


def _just_below(floor: str) -> str:
    parts = [int(p) for p in floor.split(".")]
    for i in reversed(range(len(parts))):
        if parts[i] > 0:
            parts[i] -= 1
            return ".".join(map(str, parts)) + ".999"
    raise ValueError(floor)
