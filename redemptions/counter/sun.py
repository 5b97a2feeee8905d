"""NTAG 424 DNA Secure Unique NFC (SUN) messages, verified server-side.

A tag configured for SUN mirrors into its URL an encrypted *PICCData* block (the
tag's UID and its read counter, encrypted with ``K_SDMMetaRead``) and an 8-byte
*SDMMAC* (an AES-CMAC with a session key derived from ``K_SDMFileRead``, the
UID and the counter). Following NXP's application note AN12196:

1. decrypt PICCData with AES-128-CBC, IV = 0;
2. parse it: PICCDataTag (bit 7 UID mirrored, bit 6 counter mirrored, bits 0-3 UID
   length, which must be 7), UID, SDMReadCtr (3 bytes, least significant first);
3. session MAC key = AES-CMAC(K_SDMFileRead, SV2) with
   SV2 = ``3CC3 0001 0080 || UID || SDMReadCtr``;
4. SDMMAC = the odd bytes (1, 3, ..., 15) of AES-CMAC(session key, MAC input); with no
   mirrored file data the MAC input is empty;
5. refuse a counter that is not greater than the last one accepted for that UID (a replayed
   or cloned tap).

The caller (``redemptions.services.tag_tap_verify``) keeps the last accepted
counter per tag under a row lock.
"""

from __future__ import annotations

import binascii
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from core.errors import DomainError

from . import errors  # noqa: F401  (registers the refusal codes)

EXPECTED_TAG = 0xC7  # UID mirrored, counter mirrored, UID length 7
_SV2_PREFIX = bytes.fromhex("3CC300010080")


@dataclass(frozen=True)
class SunReading:
    uid: bytes
    counter: int

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()


def _hex(value: str, length: int) -> bytes:
    try:
        raw = binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError) as exc:
        raise DomainError("tag_invalid", reason="not_hex") from exc
    if len(raw) != length:
        raise DomainError("tag_invalid", reason="bad_length")
    return raw


def _cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def decrypt_picc_data(picc_data_hex: str, meta_read_key: bytes) -> SunReading:
    """Decrypt and parse PICCData; refuses a PICCDataTag other than the one we configure."""
    decryptor = Cipher(algorithms.AES(meta_read_key), modes.CBC(bytes(16))).decryptor()
    plain = decryptor.update(_hex(picc_data_hex, 16)) + decryptor.finalize()
    if plain[0] != EXPECTED_TAG:
        raise DomainError("tag_invalid", reason="unexpected_tag")
    uid = plain[1:8]
    counter = int.from_bytes(plain[8:11], "little")
    return SunReading(uid=uid, counter=counter)


def session_mac_key(file_read_key: bytes, reading: SunReading) -> bytes:
    sv2 = _SV2_PREFIX + reading.uid + reading.counter.to_bytes(3, "little")
    return _cmac(file_read_key, sv2)


def sdm_mac(file_read_key: bytes, reading: SunReading, mac_input: bytes = b"") -> bytes:
    """The 8-byte SDMMAC a genuine tag writes for this reading."""
    full = _cmac(session_mac_key(file_read_key, reading), mac_input)
    return full[1::2]


def verify(
    *,
    picc_data_hex: str,
    cmac_hex: str,
    meta_read_key: bytes,
    file_read_key: bytes,
    last_counter: int | None,
) -> SunReading:
    """Verify one tap. Raises ``DomainError`` ``tag_invalid`` (bad data, unexpected tag, MAC
    mismatch) or ``tag_replayed`` (counter not above ``last_counter``)."""
    reading = decrypt_picc_data(picc_data_hex, meta_read_key)
    if not hmac.compare_digest(sdm_mac(file_read_key, reading), _hex(cmac_hex, 8)):
        raise DomainError("tag_invalid", reason="mac_mismatch")
    if last_counter is not None and reading.counter <= last_counter:
        raise DomainError("tag_replayed")
    return reading
