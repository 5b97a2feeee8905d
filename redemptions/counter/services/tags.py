"""The shop's NFC tags: registering them (SUN keys sealed at rest) and verifying a Secure Unique NFC tap."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, field_error
from core.models import User
from core.services import audit_record
from merchants.models import Merchant
from merchants.selectors import staff_membership

from ...models import NfcTag
from .. import sun

# --- NFC tags ---------------------------------------------------------------------------------------


def tag_register(
    *,
    merchant: Merchant,
    actor: User,
    label: str,
    kind: str = NfcTag.Kind.PLAIN,
    meta_read_key: str = "",
    file_read_key: str = "",
) -> NfcTag:
    """A shop's owner or staff registers a tag or QR stand (SUN tags with their two AES keys, hex)."""
    if staff_membership(user=actor, merchant=merchant) is None:
        raise DomainError("staff_not_authorized")
    label = (label or "").strip()[:60]
    if not label:
        raise field_error("label", "label_required", _("Give the tag a name, e.g. 'till 1'."))
    if kind == NfcTag.Kind.SUN:
        for name, value in (("meta_read_key", meta_read_key), ("file_read_key", file_read_key)):
            if not re.fullmatch(r"[0-9a-fA-F]{32}", value or ""):
                raise field_error(name, "key_invalid", _("An AES-128 key is 32 hexadecimal characters."))
    elif kind != NfcTag.Kind.PLAIN:
        raise field_error("kind", "kind_invalid", _("Choose a plain tag or an NTAG 424 DNA tag."))
    with transaction.atomic():
        tag = NfcTag.objects.create(
            merchant=merchant,
            label=label,
            kind=kind,
            meta_read_key=(meta_read_key or "").upper(),
            file_read_key=(file_read_key or "").upper(),
        )
        audit_record(actor=actor, action="redemptions.tag_register", obj=tag, after={"label": label, "kind": kind})
    return tag


def tag_tap_verify(*, tag: NfcTag, picc_data: str, cmac: str, at: datetime | None = None) -> sun.SunReading:
    """Verify an NTAG 424 DNA tap and remember its counter (row lock: a counter is accepted once).

    Raises ``tag_invalid`` (bad data, wrong MAC, another tag's UID) or ``tag_replayed``."""
    with transaction.atomic():
        locked = NfcTag.objects.select_for_update().get(pk=tag.pk)
        reading = sun.verify(
            picc_data_hex=picc_data,
            cmac_hex=cmac,
            meta_read_key=bytes.fromhex(locked.meta_read_key),
            file_read_key=bytes.fromhex(locked.file_read_key),
            last_counter=locked.last_counter,
        )
        if locked.uid and locked.uid != reading.uid_hex:
            raise DomainError("tag_invalid", reason="uid_mismatch")
        locked.uid = reading.uid_hex
        locked.last_counter = reading.counter
        locked.last_tap_at = at or timezone.now()
        locked.save(update_fields=["uid", "last_counter", "last_tap_at"])
    tag.uid, tag.last_counter, tag.last_tap_at = locked.uid, locked.last_counter, locked.last_tap_at
    return reading
