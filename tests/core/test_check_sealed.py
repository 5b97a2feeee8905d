"""Issue 18: after a restore, ``manage.py check_sealed`` opens every sealed value with the key ring, and fails
when the ring is not the one that sealed them (scripts/restore_drill.sh relies on both)."""

from __future__ import annotations

import base64
import json
import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from redemptions.counter.services import tag_register
from tests.factories.redemptions import shop, staff_of

pytestmark = pytest.mark.django_db


def ring() -> str:
    return json.dumps({"k": base64.b64encode(secrets.token_bytes(32)).decode()})


def test_every_sealed_value_opens_with_the_ring_and_none_with_another(settings):
    settings.REDCARD_DATA_KEYS, settings.REDCARD_DATA_KEY_ID = ring(), "k"
    merchant = shop()
    tag_register(
        merchant=merchant,
        actor=staff_of(merchant),
        label="till",
        kind="sun",
        meta_read_key="00112233445566778899aabbccddeeff",
        file_read_key="ffeeddccbbaa99887766554433221100",
    )
    out = StringIO()
    call_command("check_sealed", stdout=out)
    assert "redemptions.NfcTag: 2 sealed values open" in out.getvalue()
    assert out.getvalue().strip().endswith("sealed values: 2 open, 0 do not")
    settings.REDCARD_DATA_KEYS = ring()
    with pytest.raises(CommandError, match="2 sealed values cannot be opened"):
        call_command("check_sealed", stdout=StringIO())
