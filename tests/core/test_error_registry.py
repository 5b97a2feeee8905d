"""One error registry: every stable code is registered once, by the app that owns it."""

from __future__ import annotations

import ast
from collections import defaultdict
from importlib import import_module
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.errors import CODES, register

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "members", "merchants", "redemptions", "curation")


def test_a_second_registration_of_a_code_raises_and_registers_nothing():
    before = dict(CODES)
    with pytest.raises(ImproperlyConfigured, match="conflict"):
        register({"conflict": CODES["conflict"]})  # even with the same meaning
    with pytest.raises(ImproperlyConfigured, match="membership_inactive"):
        register({"arch_test_new_code": (400, _("new")), "membership_inactive": (403, _("other wording"))})
    assert before == CODES  # nothing of the refused batch was registered


def _registered_in_source() -> dict[str, list[str]]:
    """code -> the modules whose ``register(...)`` call names it (dict literals and module-level dicts)."""
    where: dict[str, list[str]] = defaultdict(list)
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            registers = path == ROOT / "core" / "errors.py" or any(
                isinstance(node, ast.ImportFrom)
                and node.module == "core.errors"
                and any(alias.name == "register" and alias.asname is None for alias in node.names)
                for node in tree.body
            )
            if not registers:  # another ``register`` (Django's system checks, template libraries)
                continue
            dicts = {
                target.id: node.value
                for node in tree.body
                if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict)
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)
            }
            for call in ast.walk(tree):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "register" and call.args):
                    continue
                arg = call.args[0]
                literal = dicts.get(arg.id) if isinstance(arg, ast.Name) else arg
                assert isinstance(literal, ast.Dict), f"{path}: register() takes a dict literal or a module-level dict"
                for key in literal.keys:
                    assert isinstance(key, ast.Constant), f"{path}: codes are string literals"
                    where[key.value].append(str(path.relative_to(ROOT)))
    return where


def test_every_code_is_registered_by_exactly_one_module():
    where = _registered_in_source()
    twice = {code: places for code, places in where.items() if len(places) > 1}
    assert not twice
    for places in where.values():  # every registering module imports (none raises at start-up)
        import_module(places[0].removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    assert set(where) == set(CODES)  # the running catalogue is exactly what the sources register
