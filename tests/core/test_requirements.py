"""Issue 18: requirements.txt installs what production runs, and only that; development and test tools live in
requirements-dev.txt (which includes the production pins)."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"pytest", "pytest-django", "pytest-xdist", "mypy", "ruff", "selenium", "factory-boy", "faker", "time-machine"}


def pinned(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, version = re.split(r"==", line)
            pins[canonicalize_name(name)] = version
    return pins


def test_production_requirements_hold_no_development_tools():
    production = pinned(ROOT / "requirements.txt")
    assert not TOOLS & set(production), TOOLS & set(production)
    dev_text = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev_text.splitlines()
    assert set(pinned(ROOT / "requirements-dev.txt")) >= TOOLS


def test_production_requirements_are_complete():
    """Every package a production pin depends on (without extras) is pinned there too, at the installed
    version: `pip install -r requirements.txt` alone gives a working server."""
    production = pinned(ROOT / "requirements.txt")
    missing = []
    for name in production:
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            missing.append(f"{name} (not installed)")
            continue
        for spec in requires:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in production:
                missing.append(f"{requirement.name} (needed by {name})")
    assert missing == []
    for name, version in production.items():
        assert distribution(name).version == version, name
