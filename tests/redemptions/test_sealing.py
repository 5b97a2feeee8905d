"""Secrets at rest: NFC tag keys sealed with AES-256-GCM under a rotatable key ring."""

import base64
import json
import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from core import sealing
from redemptions.counter import services
from redemptions.models import NfcTag

pytestmark = pytest.mark.django_db

KEY = "00112233445566778899AABBCCDDEEFF"


def ring(**keys):
    return json.dumps({kid: base64.b64encode(value).decode() for kid, value in keys.items()})


def stored(tag, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM redemptions_nfctag WHERE id = %s", [tag.pk])  # noqa: S608
        return cursor.fetchone()[0]


def sun_tag(merchant, staff, key=KEY):
    return services.tag_register(
        merchant=merchant, actor=staff, label="till 1", kind="sun", meta_read_key=key, file_read_key=key
    )


def test_tag_keys_are_sealed_in_the_database_and_plain_in_python(merchant, staff):
    tag = sun_tag(merchant, staff)
    raw = stored(tag, "meta_read_key")
    assert raw.startswith("gcm1:") and KEY not in raw.upper()
    assert stored(tag, "file_read_key") != raw  # a fresh nonce per value
    assert NfcTag.objects.get(pk=tag.pk).meta_read_key == KEY


def test_a_sealed_value_moved_to_another_column_does_not_open(merchant, staff):
    tag = sun_tag(merchant, staff)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE redemptions_nfctag SET file_read_key = meta_read_key WHERE id = %s",  # a copy-paste attack
            [tag.pk],
        )
    with pytest.raises(sealing.SealError):
        NfcTag.objects.get(pk=tag.pk)


def test_rotation_old_values_open_then_reseal_moves_them_to_the_new_key(merchant, staff):
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    with override_settings(REDCARD_DATA_KEYS=ring(k1=old), REDCARD_DATA_KEY_ID="k1"):
        tag = sun_tag(merchant, staff)
        assert stored(tag, "meta_read_key").startswith("gcm1:k1:")
    with override_settings(REDCARD_DATA_KEYS=ring(k1=old, k2=new), REDCARD_DATA_KEY_ID="k2"):
        assert NfcTag.objects.get(pk=tag.pk).meta_read_key == KEY  # still opens with k1
        call_command("reseal", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert stored(tag, "meta_read_key").startswith("gcm1:k2:")
        assert stored(tag, "file_read_key").startswith("gcm1:k2:")
    with override_settings(REDCARD_DATA_KEYS=ring(k2=new), REDCARD_DATA_KEY_ID="k2"):
        assert NfcTag.objects.get(pk=tag.pk).file_read_key == KEY  # k1 retired
    stranger = override_settings(REDCARD_DATA_KEYS=ring(k9=secrets.token_bytes(32)), REDCARD_DATA_KEY_ID="k9")
    with stranger, pytest.raises(sealing.SealError):
        NfcTag.objects.get(pk=tag.pk)


def test_a_key_stored_before_sealing_reads_as_is_and_is_sealed_on_save(merchant, staff):
    tag = sun_tag(merchant, staff)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE redemptions_nfctag SET meta_read_key = %s WHERE id = %s", [KEY, tag.pk])
    legacy = NfcTag.objects.get(pk=tag.pk)
    assert legacy.meta_read_key == KEY
    legacy.save()
    assert stored(tag, "meta_read_key").startswith("gcm1:")


def test_empty_means_no_key_and_keeps_the_sun_constraint(merchant):
    plain = NfcTag.objects.create(merchant=merchant, label="stand", kind="plain")
    assert stored(plain, "meta_read_key") == ""
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        NfcTag.objects.create(merchant=merchant, label="bad", kind="sun")


@pytest.mark.parametrize(
    "keys",
    ["not json", json.dumps({"k1": "c2hvcnQ="}), ring(k1=secrets.token_bytes(32))[:-2] + 'x"}'],
)
def test_a_bad_key_ring_is_refused_at_first_use(keys):
    with override_settings(REDCARD_DATA_KEYS=keys, REDCARD_DATA_KEY_ID=""), pytest.raises(ImproperlyConfigured):
        sealing.key_ring()


def test_the_current_key_must_be_in_the_ring():
    wrong = override_settings(REDCARD_DATA_KEYS=ring(k1=secrets.token_bytes(32)), REDCARD_DATA_KEY_ID="k7")
    with wrong, pytest.raises(ImproperlyConfigured):
        sealing.key_ring()
