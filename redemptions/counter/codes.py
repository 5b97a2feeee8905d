"""Member codes: rotating, Ed25519-signed, derived on demand, single use.

A member's card shows a code for the current time *window* (``ROTATE_SECONDS``
long, 30 s by default). A code is valid from the start of its window for
``VALID_SECONDS`` (90 s by default), so the code on screen always has a minute
or more to live and a screenshot dies within a minute and a half. Nothing is
stored when a code is shown: the code is a pure function of (signing key,
member, window), so a member whose payment has just succeeded has a working
code on the next page load. Single use is enforced by the database: the
redemption stores :attr:`VerifiedCode.code_id`, a unique column.

QR payload (bytes, then ``"RC" + base32`` without padding so that it fits QR
alphanumeric mode and stays small). Version 2, what the card issues::

    02 | len(kid) | kid (ASCII) | window (uint32, big endian) | member public_id (16 bytes)
       | entitled until (uint32, Unix seconds; 0 unknown) | len(name) | masked name (UTF-8) | Ed25519 signature (64)

Version 1 (still verified: a card page opened before an upgrade) stops after the member's id. The
signature covers ``b"RC"`` followed by every byte before it. A page that holds only the public keys
(:func:`public_keys`) can check that a code is genuine and read who it is, until when the card runs
and which code it is (``member.window``, :func:`code_id`) before asking the server anything
(``static/js/redemptions-codes.js`` does so with WebCrypto; the scanner previews from it and accepts
codes offline).

The short numeric fallback that staff can type is
``<member number, at least 3 digits><window mod 10><6-digit HMAC>``: it is
derived, never stored, and guessing one needs the 6-digit MAC of a live window
(one in a million per attempt); refused attempts are recorded and counted
(see ``redemptions.counter.services``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import struct
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from core.errors import DomainError

from . import errors  # noqa: F401  (registers the refusal codes)

VERSION = 2
VERSIONS = (1, 2)
PREFIX = "RC"
_DOMAIN = b"RC"
_NUMERIC_DOMAIN = b"redcard/numeric-code/v1"
_SIG_LEN = 64
#: The masked name a code carries is cut to this many UTF-8 bytes.
NAME_BYTES = 24


def rotate_seconds() -> int:
    return int(getattr(settings, "REDCARD_CODE_ROTATE_SECONDS", 30))


def valid_seconds() -> int:
    return int(getattr(settings, "REDCARD_CODE_VALID_SECONDS", 90))


# --- Key ring -------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRing:
    """Every configured key verifies; ``current`` signs."""

    current: str
    private: dict[str, Ed25519PrivateKey]

    def public_raw(self, kid: str) -> bytes:
        return self.private[kid].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def numeric_key(self, kid: str) -> bytes:
        seed = self.private[kid].private_bytes_raw()
        return hashlib.sha256(_NUMERIC_DOMAIN + b"\0" + seed).digest()


_lock = threading.Lock()
_cache: dict[tuple[str, str, str], KeyRing] = {}


def _parse_keys(raw: str, current: str, source: str) -> KeyRing:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{source}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise ImproperlyConfigured(f"{source}: expected a JSON object {{key id: base64 seed}}")
    private: dict[str, Ed25519PrivateKey] = {}
    for kid, seed_b64 in data.items():
        if not (isinstance(kid, str) and 1 <= len(kid) <= 16 and kid.isascii() and kid.isalnum()):
            raise ImproperlyConfigured(f"{source}: key id {kid!r} must be 1-16 ASCII letters or digits")
        try:
            seed = base64.b64decode(seed_b64, validate=True)
        except (binascii.Error, TypeError) as exc:
            raise ImproperlyConfigured(f"{source}: key {kid!r} is not base64") from exc
        if len(seed) != 32:
            raise ImproperlyConfigured(f"{source}: key {kid!r} must be a 32-byte Ed25519 seed")
        private[kid] = Ed25519PrivateKey.from_private_bytes(seed)
    if not current:
        if len(private) != 1:
            raise ImproperlyConfigured(f"{source}: several keys configured; set REDCARD_CODE_KEY_ID")
        current = next(iter(private))
    if current not in private:
        raise ImproperlyConfigured(f"REDCARD_CODE_KEY_ID {current!r} is not among the configured keys")
    return KeyRing(current=current, private=private)


def _generated_key_file(path: Path) -> str:
    """Read the embedded default's key file, generating it once (atomically) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        kid = "d" + secrets.token_hex(3)
        content = json.dumps({kid: base64.b64encode(secrets.token_bytes(32)).decode()})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".member-codes-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
            os.chmod(tmp, 0o600)
            with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text()


def key_ring() -> KeyRing:
    """The configured key ring (``REDCARD_CODE_KEYS``), or the embedded default's generated key."""
    raw = getattr(settings, "REDCARD_CODE_KEYS", "") or ""
    current = getattr(settings, "REDCARD_CODE_KEY_ID", "") or ""
    key_file = getattr(settings, "REDCARD_CODE_KEY_FILE", None)
    cache_key = (raw, current, str(key_file))
    ring = _cache.get(cache_key)
    if ring is not None:
        return ring
    with _lock:
        if raw:
            ring = _parse_keys(raw, current, "REDCARD_CODE_KEYS")
        elif key_file:
            ring = _parse_keys(_generated_key_file(Path(key_file)), "", str(key_file))
        else:
            raise ImproperlyConfigured("No member code signing key: set REDCARD_CODE_KEYS")
        _cache[cache_key] = ring
    return ring


def public_keys() -> dict[str, str]:
    """``{key id: base64url raw Ed25519 public key}`` for pages and partners that verify codes."""
    ring = key_ring()
    return {kid: base64.urlsafe_b64encode(ring.public_raw(kid)).decode().rstrip("=") for kid in ring.private}


# --- Windows --------------------------------------------------------------------


def window_at(at: datetime) -> int:
    return int(at.timestamp()) // rotate_seconds()


def window_start(window: int) -> datetime:
    return datetime.fromtimestamp(window * rotate_seconds(), tz=UTC)


def live_windows(at: datetime) -> range:
    """Windows whose codes are accepted at ``at``: up to ``VALID_SECONDS`` old, and the next one
    (a phone whose clock runs a little fast)."""
    now = window_at(at)
    back = -(-valid_seconds() // rotate_seconds()) - 1  # ceil(valid / rotate) - 1
    return range(now - back, now + 2)


def code_id(*, member_public_id: uuid.UUID, window: int) -> str:
    """What the database keeps unique: one use per member per window (the QR code and the
    numeric code of the same window are the same code)."""
    return f"{member_public_id.hex}.{window}"


# --- Issuing --------------------------------------------------------------------


@dataclass(frozen=True)
class MemberCode:
    qr: str
    numeric: str
    window: int
    shows_from: datetime
    rotates_at: datetime
    expires_at: datetime


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _numeric_mac(key: bytes, member_number: int, window: int) -> str:
    digest = hmac.new(key, f"{member_number}:{window}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def _name_bytes(name: str) -> bytes:
    raw = name.encode()[:NAME_BYTES]
    return raw.decode(errors="ignore").encode()  # never half a character


def issue(
    *,
    member_public_id: uuid.UUID,
    member_number: int,
    at: datetime | None = None,
    ahead: int = 0,
    masked_name: str | None = None,
    entitled_until: datetime | None = None,
) -> MemberCode:
    """The member's code for the window ``ahead`` windows after the one at ``at``: version 2 (with the
    masked name and the end of the entitlement, for a scanner that previews offline) when
    ``masked_name`` is given, else version 1."""
    ring = key_ring()
    window = window_at(at or timezone.now()) + ahead
    kid = ring.current.encode()
    version = VERSION if masked_name is not None else 1
    message = struct.pack(">BB", version, len(kid)) + kid + struct.pack(">I", window) + member_public_id.bytes
    if version == 2:
        name = _name_bytes(masked_name or "")
        until = int(entitled_until.timestamp()) if entitled_until else 0
        message += struct.pack(">IB", until, len(name)) + name
    signature = ring.private[ring.current].sign(_DOMAIN + message)
    mac = _numeric_mac(ring.numeric_key(ring.current), member_number, window)
    start = window_start(window)
    return MemberCode(
        qr=PREFIX + _b32(message + signature),
        numeric=f"{member_number:03d}{window % 10}{mac}",
        window=window,
        shows_from=start,
        rotates_at=window_start(window + 1),
        expires_at=datetime.fromtimestamp(start.timestamp() + valid_seconds(), tz=UTC),
    )


# --- Verifying ------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedCode:
    """A genuine, live code. Exactly one of ``member_public_id`` (QR) and ``member_number``
    (typed) is set; ``kind`` is ``"qr"`` or ``"numeric"``."""

    kind: str
    window: int
    kid: str | None
    member_public_id: uuid.UUID | None
    member_number: int | None
    #: What a version 2 code carries (signed when the card derived it): the end of the entitlement then
    #: and the masked name.
    entitled_until: datetime | None = None
    masked_name: str = ""


def looks_numeric(text: str) -> bool:
    digits = "".join(text.split())
    return digits.isascii() and digits.isdigit()


def _check_live(window: int, at: datetime, skew: int = 0) -> None:
    """``skew`` (seconds) widens the accepted windows both ways: a scan recorded offline by a device
    whose clock was off by up to that much."""
    first = live_windows(datetime.fromtimestamp(at.timestamp() - skew, tz=UTC)).start
    last = live_windows(datetime.fromtimestamp(at.timestamp() + skew, tz=UTC)).stop
    if not first <= window < last:
        raise DomainError("code_expired")


def verify(text: str, *, at: datetime | None = None, skew: int = 0) -> VerifiedCode:
    """Check a scanned or typed code (live at ``at``, give or take ``skew`` seconds). Raises
    ``DomainError`` ``code_invalid`` (malformed, forged, tampered, unknown key) or ``code_expired``.
    Does not look at the database (single use is the caller's, see ``redemptions.counter.services``)."""
    at = at or timezone.now()
    text = (text or "").strip()
    if looks_numeric(text):
        return _verify_numeric("".join(text.split()), at)
    return _verify_qr(text.upper(), at, skew)


def _body_length(raw: bytes) -> int:
    """The signed part's length of a version 1 or 2 payload (``raw`` has at least 2 bytes)."""
    length = 2 + raw[1] + 4 + 16
    if raw[0] == 2:
        if len(raw) < length + 5:
            raise DomainError("code_invalid")
        length += 5 + raw[length + 4]
    return length


def _verify_qr(text: str, at: datetime, skew: int = 0) -> VerifiedCode:
    if not text.startswith(PREFIX) or len(text) > 230:
        raise DomainError("code_invalid")
    try:
        raw = _unb32(text[len(PREFIX) :])
    except (binascii.Error, ValueError) as exc:
        raise DomainError("code_invalid") from exc
    if len(raw) < 2 or raw[0] not in VERSIONS:
        raise DomainError("code_invalid")
    kid_len = raw[1]
    body_len = _body_length(raw)
    if len(raw) != body_len + _SIG_LEN:
        raise DomainError("code_invalid")
    message, signature = raw[:body_len], raw[body_len:]
    kid = message[2 : 2 + kid_len].decode("ascii", errors="replace")
    ring = key_ring()
    key = ring.private.get(kid)
    if key is None:
        raise DomainError("code_invalid")
    public: Ed25519PublicKey = key.public_key()
    try:
        public.verify(signature, _DOMAIN + message)
    except InvalidSignature as exc:
        raise DomainError("code_invalid") from exc
    (window,) = struct.unpack(">I", message[2 + kid_len : 6 + kid_len])
    _check_live(window, at, skew)
    member = uuid.UUID(bytes=message[6 + kid_len : 22 + kid_len])
    until, name = None, ""
    if raw[0] == 2:
        (seconds,) = struct.unpack(">I", message[22 + kid_len : 26 + kid_len])
        until = datetime.fromtimestamp(seconds, tz=UTC) if seconds else None
        name = message[27 + kid_len :].decode(errors="replace")
    return VerifiedCode(
        kind="qr",
        window=window,
        kid=kid,
        member_public_id=member,
        member_number=None,
        entitled_until=until,
        masked_name=name,
    )


def _verify_numeric(digits: str, at: datetime) -> VerifiedCode:
    if not 10 <= len(digits) <= 16:
        raise DomainError("code_invalid")
    member_number, window_digit, mac = int(digits[:-7]), int(digits[-7]), digits[-6:]
    if member_number <= 0:
        raise DomainError("code_invalid")
    ring = key_ring()
    now = window_at(at)
    # The window whose last digit matches, among the recent ones (the most recent first).
    candidates = [w for w in range(now + 1, now - 10, -1) if w % 10 == window_digit]
    for window in candidates:
        for kid in ring.private:
            if hmac.compare_digest(_numeric_mac(ring.numeric_key(kid), member_number, window), mac):
                _check_live(window, at)
                return VerifiedCode(
                    kind="numeric", window=window, kid=kid, member_public_id=None, member_number=member_number
                )
    raise DomainError("code_invalid")
