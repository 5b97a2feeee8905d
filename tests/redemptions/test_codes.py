"""Rotating signed member codes: issue, verify, expiry, forgery, key rotation, numeric fallback."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from core.errors import DomainError
from redemptions.counter import codes

T0 = datetime(2026, 11, 20, 4, 0, 0, tzinfo=UTC)  # window boundary (divisible by 30 s)
MEMBER = uuid.UUID("12345678-1234-5678-1234-567812345678")


def seed() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def keys():
    old, new = seed(), seed()
    with override_settings(REDCARD_CODE_KEYS=json.dumps({"k1": old}), REDCARD_CODE_KEY_ID="k1"):
        yield {"k1": old, "k2": new}


def refused(text: str, at: datetime) -> str:
    with pytest.raises(DomainError) as excinfo:
        codes.verify(text, at=at)
    return excinfo.value.code


def test_fresh_code_verifies_and_names_the_member(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    verified = codes.verify(code.qr, at=T0 + timedelta(seconds=5))
    assert (verified.kind, verified.member_public_id, verified.kid) == ("qr", MEMBER, "k1")
    assert code.qr.startswith("RC") and set(code.qr[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(code.qr) < 160  # fits a small alphanumeric QR code


def test_code_rotates_every_window_and_expires_after_ninety_seconds(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    assert codes.issue(member_public_id=MEMBER, member_number=42, at=T0 + timedelta(seconds=29)).qr == code.qr
    assert codes.issue(member_public_id=MEMBER, member_number=42, at=T0 + timedelta(seconds=30)).qr != code.qr
    assert code.expires_at - code.shows_from == timedelta(seconds=90)
    codes.verify(code.qr, at=T0 + timedelta(seconds=89))
    assert refused(code.qr, T0 + timedelta(seconds=90)) == "code_expired"
    assert refused(code.qr, T0 - timedelta(seconds=31)) == "code_expired"  # far in the future


def test_tampered_code_is_invalid(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    raw = bytearray(codes._unb32(code.qr[2:]))
    raw[10] ^= 0x01  # flip a bit of the member id
    assert refused("RC" + codes._b32(bytes(raw)), T0) == "code_invalid"


@pytest.mark.parametrize("text", ["", "hello", "RC", "RC!!!!", "RCAAAA", "https://example.com/x", "RC" + "A" * 300])
def test_garbage_is_invalid(keys, text):
    assert refused(text, T0) == "code_invalid"


def test_code_signed_with_an_unknown_key_is_invalid(keys):
    with override_settings(REDCARD_CODE_KEYS=json.dumps({"k9": seed()}), REDCARD_CODE_KEY_ID="k9"):
        foreign = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    assert refused(foreign.qr, T0) == "code_invalid"


def test_code_forged_with_another_key_under_our_key_id_is_invalid(keys):
    with override_settings(REDCARD_CODE_KEYS=json.dumps({"k1": seed()}), REDCARD_CODE_KEY_ID="k1"):
        forged = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    assert refused(forged.qr, T0) == "code_invalid"


def test_rotation_keeps_codes_on_screen_working(keys):
    old_code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    rotated = json.dumps({"k1": keys["k1"], "k2": keys["k2"]})
    with override_settings(REDCARD_CODE_KEYS=rotated, REDCARD_CODE_KEY_ID="k2"):
        new_code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
        assert codes.verify(old_code.qr, at=T0).kid == "k1"
        assert codes.verify(new_code.qr, at=T0).kid == "k2"
        assert codes.verify(old_code.numeric, at=T0).member_number == 42
        assert set(codes.public_keys()) == {"k1", "k2"}


def test_public_key_alone_checks_the_signature(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    raw = codes._unb32(code.qr[2:])
    public = codes.public_keys()["k1"]
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(public + "=" * (-len(public) % 4)))
    key.verify(raw[-64:], b"RC" + raw[:-64])  # raises if not genuine


def test_numeric_fallback_verifies_and_expires(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    assert code.numeric.isdigit() and len(code.numeric) == 10
    verified = codes.verify(
        " ".join([code.numeric[:4], code.numeric[4:8], code.numeric[8:]]), at=T0 + timedelta(seconds=60)
    )
    assert (verified.kind, verified.member_number, verified.window) == ("numeric", 42, code.window)
    assert refused(code.numeric, T0 + timedelta(seconds=95)) == "code_expired"


def test_guessed_numeric_code_is_invalid(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    wrong = code.numeric[:-1] + str((int(code.numeric[-1]) + 1) % 10)
    assert refused(wrong, T0) == "code_invalid"
    other_member = "043" + code.numeric[3:]
    assert refused(other_member, T0) == "code_invalid"
    assert refused("12345", T0) == "code_invalid"


@pytest.mark.parametrize(
    "config",
    [
        {"REDCARD_CODE_KEYS": "not json"},
        {"REDCARD_CODE_KEYS": json.dumps({"k1": "c2hvcnQ="})},
        {"REDCARD_CODE_KEYS": json.dumps({"k1": seed(), "k2": seed()}), "REDCARD_CODE_KEY_ID": ""},
        {"REDCARD_CODE_KEYS": json.dumps({"k1": seed()}), "REDCARD_CODE_KEY_ID": "k7"},
        {"REDCARD_CODE_KEYS": "", "REDCARD_CODE_KEY_FILE": None},
    ],
)
def test_bad_key_configuration_is_refused(config):
    with override_settings(**config), pytest.raises(ImproperlyConfigured):
        codes.key_ring()


def test_embedded_default_generates_one_key_file_outside_the_repository(tmp_path):
    path = tmp_path / "keys" / "member-codes.json"
    with override_settings(REDCARD_CODE_KEYS="", REDCARD_CODE_KEY_ID="", REDCARD_CODE_KEY_FILE=path):
        first = codes.key_ring()
        assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
        assert codes._parse_keys(path.read_text(), "", "again").current == first.current


def test_code_key_command_prints_a_ring_that_rotates(keys, capsys):
    from django.core.management import call_command

    call_command("code_key", "--id", "k2")
    out = capsys.readouterr().out
    ring = json.loads(out.split("REDCARD_CODE_KEYS='")[1].split("'")[0])
    assert set(ring) == {"k1", "k2"} and ring["k1"] == keys["k1"]
    with override_settings(REDCARD_CODE_KEYS=json.dumps(ring), REDCARD_CODE_KEY_ID="k2"):
        assert codes.key_ring().current == "k2"
        assert f"public key k2: {codes.public_keys()['k2']}" in out


UNTIL = datetime(2027, 3, 1, 16, 0, tzinfo=UTC)


def test_version_two_carries_the_name_and_the_end_of_the_card_signed(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0, masked_name="王**", entitled_until=UNTIL)
    verified = codes.verify(code.qr, at=T0 + timedelta(seconds=5))
    assert (verified.member_public_id, verified.masked_name, verified.entitled_until) == (MEMBER, "王**", UNTIL)
    assert codes.code_id(member_public_id=MEMBER, window=verified.window) == f"{MEMBER.hex}.{code.window}"
    assert len(code.qr) < 200  # still a small alphanumeric QR code
    # The public key alone checks it, as the scanner page does.
    raw = codes._unb32(code.qr[2:])
    public = codes.public_keys()["k1"]
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(public + "=" * (-len(public) % 4)))
    key.verify(raw[-64:], b"RC" + raw[:-64])
    # Changing the signed end or the name breaks the signature.
    for position in (len(raw) - 64 - 1, len(raw) - 64 - 8):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        assert refused("RC" + codes._b32(bytes(tampered)), T0) == "code_invalid"


def test_a_long_name_is_cut_on_a_character_and_version_one_still_verifies(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0, masked_name="龍" * 20, entitled_until=None)
    verified = codes.verify(code.qr, at=T0)
    assert verified.masked_name == "龍" * (codes.NAME_BYTES // 3) and verified.entitled_until is None
    old = codes.issue(member_public_id=MEMBER, member_number=42, at=T0)
    assert codes.verify(old.qr, at=T0).masked_name == ""


def test_clock_skew_widens_the_live_windows_for_offline_scans(keys):
    code = codes.issue(member_public_id=MEMBER, member_number=42, at=T0, masked_name="王**")
    late = T0 + timedelta(seconds=200)
    assert refused(code.qr, late) == "code_expired"
    assert codes.verify(code.qr, at=late, skew=120).window == code.window
    assert refused(code.qr.replace(code.qr[-1], "A" if code.qr[-1] != "A" else "B"), late) in {
        "code_invalid",
        "code_expired",
    }
