"""The layers hold: a lower app never names a higher one.

core < members, merchants < redemptions < curation. A module of a lower app may not import a higher app, nor
name it in a string (a dotted path, a model label, a URL name it owns, a path it serves); a template of a lower
app may not ``{% url %}``, include or extend what a higher app owns, nor link to a path it serves. Links from a
lower app's page to a higher app's feature come from a hook the higher app fills (``merchants.links``,
``core.views.home_sections``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[2]
RANK = {"core": 0, "members": 1, "merchants": 1, "redemptions": 2, "curation": 3}
HIGHER = {app: {other for other, rank in RANK.items() if rank > RANK[app]} for app in RANK}

TEMPLATE_TAG = re.compile(r"{%\s*(url|include|extends)\s+(['\"])([^'\"]+)\2")
TEMPLATE_PATH = re.compile(r"""(?:href|action|src)\s*=\s*["'](/[^"'{]*)""")


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, str | None]]:
    """(route prefix, owning app, URL name with namespace) for every URL of the project."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "view_class", entry.callback)
            owner = view.__module__.split(".")[0]
            yield route, owner, f"{namespace}{entry.name}" if entry.name else None


URLS = [(route, owner, name) for route, owner, name in _walk(get_resolver().url_patterns) if owner in RANK]
#: app -> its URL names ("redemptions:stand", "api-redemption-prepare")
URL_NAMES = {app: {name for _, owner, name in URLS if owner == app and name} for app in RANK}


def _head(route: str) -> str:
    """The fixed start of a route that says who serves it: two segments of a page ("/r/m/"), three of an API
    endpoint ("/api/v1/redemptions/"); a parameter ends it."""
    segments = route.split("/")
    fixed = []
    for segment in segments[: 3 if segments[0] == "api" else 2]:
        if "<" in segment or not segment:
            break
        fixed.append(segment)
    return "/" + "/".join(fixed) + "/"


def _served_prefixes(app: str) -> set[str]:
    """The heads of the routes ``app`` serves that no other app also serves."""
    mine = {_head(route) for route, owner, _ in URLS if owner == app}
    others = {_head(route) for route, owner, _ in URLS if owner != app}
    return {head for head in mine - others if head.count("/") > 2}


SERVED = {app: _served_prefixes(app) for app in RANK}


def _python_files(app: str) -> Iterator[Path]:
    yield from (path for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts)


def _template_files(app: str) -> Iterator[Path]:
    yield from (ROOT / app / "templates").rglob("*.html")


def _named_in_string(text: str, higher: set[str]) -> str | None:
    stripped = text.strip()
    for app in higher:
        if re.fullmatch(rf"{app}(\.\w+)+", stripped):
            return f"dotted path {stripped!r}"
        if stripped in URL_NAMES[app]:
            return f"URL name {stripped!r} of {app}"
        for head in SERVED[app]:
            if re.search(rf"(?<![\w/]){re.escape(head)}", text):
                return f"path {head!r} served by {app}"
    return None


def _python_violations(app: str) -> Iterator[str]:
    higher = HIGHER[app]
    for path in _python_files(app):
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found = _named_in_string(node.value, higher)
                if found:
                    yield f"{where}:{node.lineno}: {found}"
                continue
            else:
                continue
            for name in names:
                if name.split(".")[0] in higher:
                    yield f"{where}:{node.lineno}: imports {name}"


def _template_violations(app: str) -> Iterator[str]:
    higher = HIGHER[app]
    for path in _template_files(app):
        where = path.relative_to(ROOT)
        text = path.read_text(encoding="utf-8")
        for match in TEMPLATE_TAG.finditer(text):
            tag, target = match.group(1), match.group(3)
            line = text.count("\n", 0, match.start()) + 1
            if tag == "url" and any(target in URL_NAMES[other] for other in higher):
                yield f"{where}:{line}: {{% url {target!r} %}} of a higher app"
            if tag in ("include", "extends") and target.split("/")[0] in higher:
                yield f"{where}:{line}: {{% {tag} {target!r} %}} of a higher app"
        for match in TEMPLATE_PATH.finditer(text):
            found = _named_in_string(match.group(1), higher)
            if found:
                yield f"{where}:{text.count(chr(10), 0, match.start()) + 1}: {found}"


@pytest.mark.parametrize("app", [app for app in RANK if HIGHER[app]])
def test_a_lower_app_never_names_a_higher_one(app):
    assert [*_python_violations(app), *_template_violations(app)] == []


def test_the_checks_see_what_they_look_for():
    """The walk finds the URLs and the rules catch each way of naming a higher app (so the test above can fail)."""
    assert "redemptions:stand" in URL_NAMES["redemptions"] and "api-redemption-prepare" in URL_NAMES["redemptions"]
    assert "curation:complaint_new" in URL_NAMES["curation"]
    assert "/r/m/" in SERVED["redemptions"] and "/curation/standing/" in SERVED["curation"]
    assert "/merchants/" not in SERVED["redemptions"]  # shared first segments are not claimed by a higher app
    higher = HIGHER["merchants"]
    assert _named_in_string("redemptions.models.Redemption", higher)
    assert _named_in_string("curation.Finding", higher)
    assert _named_in_string("curation:apply", higher)
    assert _named_in_string("api-redemption-prepare", higher)
    assert _named_in_string("/r/m/{public_id}/claim/", higher)
    assert _named_in_string("/api/v1/redemptions/prepare/", higher)
    assert not _named_in_string("redemptions:write", higher)  # an OAuth scope, not a URL name
    assert not _named_in_string("redemptions_count", higher)
    assert not _named_in_string("Fed by redemptions; reset when a new period begins.", higher)
    assert not _named_in_string("/merchants/console/", higher)
    assert _named_in_string("merchants:catalogue", HIGHER["core"])
    assert not _named_in_string("members.errors", HIGHER["merchants"])  # same rank
