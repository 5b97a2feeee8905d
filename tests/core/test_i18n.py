"""Simplified Chinese by default, English on request, and every catalogue complete."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_home_is_chinese_by_default(client):
    page = client.get("/").content.decode()
    assert 'lang="zh-hans"' in page
    assert "小红卡" in page
    assert "Sign in" not in page


def test_english_is_served_when_the_browser_asks(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="en"' in page
    assert "Sign in" in page


def test_the_language_switch_remembers_the_choice(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert 'lang="en"' in page
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert 'lang="zh-hans"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_mainland_browsers_get_simplified_chinese(client):
    assert 'lang="zh-hans"' in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()


def parse_po(path: Path):
    """Yield (msgid, msgstrs, flags) of every entry but the header."""
    entry: dict = {"flags": "", "msgid": None, "msgstr": [], "current": None}
    entries = []

    def close():
        if entry["msgid"] is not None:
            entries.append((entry["msgid"], entry["msgstr"], entry["flags"]))

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            close()
            entry = {"flags": "", "msgid": None, "msgstr": [], "current": None}
        elif line.startswith("#,"):
            entry["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid_plural"):
            entry["current"] = "plural"
        elif line.startswith("msgid "):
            entry["msgid"] = ast.literal_eval(line[6:])
            entry["current"] = "msgid"
        elif line.startswith("msgstr"):
            entry["msgstr"].append(ast.literal_eval(line.split(" ", 1)[1]))
            entry["current"] = "msgstr"
        elif line.startswith('"'):
            if entry["current"] == "msgid":
                entry["msgid"] += ast.literal_eval(line)
            elif entry["current"] == "msgstr":
                entry["msgstr"][-1] += ast.literal_eval(line)
    return [e for e in entries if e[0] != ""]


def catalogues():
    return sorted(
        p
        for p in ROOT.glob("**/locale/zh_Hans/LC_MESSAGES/*.po")
        if ".venv" not in p.parts and "node_modules" not in p.parts
    )


def test_there_are_catalogues_for_the_platform_and_the_site():
    found = {p.relative_to(ROOT).parts[0] for p in catalogues()}
    assert {"core", "locale"} <= found


@pytest.mark.parametrize("po", catalogues(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_string_has_a_chinese_translation(po):
    problems = []
    for msgid, msgstrs, flags in parse_po(po):
        if "fuzzy" in flags:
            problems.append(f"fuzzy: {msgid!r}")
        elif not all(msgstrs):
            problems.append(f"untranslated: {msgid!r}")
        else:
            wanted = set(re.findall(r"%\(\w+\)s|\{\w+\}", msgid))
            for text in msgstrs:
                if set(re.findall(r"%\(\w+\)s|\{\w+\}", text)) != wanted:
                    problems.append(f"placeholders differ: {msgid!r}")
    assert problems == []


@pytest.mark.parametrize("po", catalogues(), ids=lambda p: str(p.relative_to(ROOT)))
def test_one_register_the_polite_you(po):
    """Members, merchants and staff are addressed as 您 everywhere, never 你 (issue 14, item 7)."""
    informal = [msgid for msgid, msgstrs, _flags in parse_po(po) if any("你" in text for text in msgstrs)]
    assert informal == []
