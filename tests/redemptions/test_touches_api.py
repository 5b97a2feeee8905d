"""Touch batches (scope touches:write): idempotent by external id, bad rows reported by index and code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from redemptions.attribution.services import TOUCH_BATCH_LIMIT
from redemptions.models.attribution import Touch
from tests.factories.attribution import NoteFactory
from tests.factories.redemptions import member_with_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(partner_client):
    client, app = partner_client("touches:write")
    note = NoteFactory(source=app)
    member = member_with_card()
    return client, app, note, member


def row(note_obj, member_obj, n, *, ago=timedelta(minutes=5), kind="view", **extra):
    data = {
        "external_id": f"t-{n}",
        "note": note_obj.external_id,
        "member": str(member_obj.public_id),
        "kind": kind,
        "at": (timezone.now() - ago).isoformat(),
    }
    data.update(extra)
    return data


def send(client, rows):
    return client.post(reverse("api-touches-batch"), {"touches": rows}, format="json")


def test_a_batch_is_stored_and_a_retry_changes_nothing(sender):
    client, app, note, member = sender
    rows = [row(note, member, n, kind=("view", "click", "save")[n % 3]) for n in range(50)]
    first = send(client, rows)
    assert first.status_code == 200
    assert first.json() == {"received": 50, "accepted": 50, "duplicates": 0, "rejected": []}
    stored = list(Touch.objects.order_by("pk").values_list("pk", "external_id", "touched_at"))
    again = send(client, rows)
    assert again.json() == {"received": 50, "accepted": 0, "duplicates": 50, "rejected": []}
    assert list(Touch.objects.order_by("pk").values_list("pk", "external_id", "touched_at")) == stored
    assert set(Touch.objects.values_list("kind", flat=True)) == {1, 2, 3}
    assert Touch.objects.filter(source=app, member=member, note=note).count() == 50


def test_bad_rows_are_reported_by_index_and_code_and_good_rows_kept(sender):
    client, _app, note, member = sender
    rows = [
        row(note, member, 0),
        row(note, member, 1, note="no-such-note"),
        row(note, member, 2, member="9b2f6c1e-0000-4000-8000-000000000000"),
        row(note, member, 3, ago=-timedelta(hours=1)),  # in the future
        row(note, member, 4, ago=timedelta(days=3650)),  # absurdly old
        row(note, member, 0),  # the same external id again in this batch
        row(note, member, 6, kind="liked"),
        row(note, member, 7, at="yesterday"),
        row(note, member, 8, at="2026-01-01T10:00:00"),  # no offset
        row(note, member, 9, member="not-a-uuid"),
        "not an object",
        row(note, member, 11, ago=timedelta(minutes=2)),
    ]
    response = send(client, rows)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "touch_note_unknown"),
        (2, "touch_member_unknown"),
        (3, "touch_in_future"),
        (4, "touch_too_old"),
        (5, "touch_duplicate_in_batch"),
        (6, "touch_row_invalid"),
        (7, "touch_row_invalid"),
        (8, "touch_row_invalid"),
        (9, "touch_member_unknown"),
        (10, "touch_row_invalid"),
    ]
    assert all(r["detail"] for r in body["rejected"])
    assert sorted(Touch.objects.values_list("external_id", flat=True)) == ["t-0", "t-11"]


def test_a_batch_over_the_limit_is_refused_whole(sender):
    client, _app, note, member = sender
    rows = [row(note, member, n) for n in range(TOUCH_BATCH_LIMIT + 1)]
    response = send(client, rows)
    assert response.status_code == 413 and response.json()["code"] == "touch_batch_too_large"
    assert not Touch.objects.exists()


def test_an_empty_or_shapeless_batch_is_refused(sender):
    client, *_ = sender
    assert send(client, []).json()["code"] == "touch_batch_empty"
    response = client.post(reverse("api-touches-batch"), {"touches": "many"}, format="json")
    assert response.status_code == 422 and response.json()["code"] == "touch_batch_empty"


def test_touches_of_another_apps_notes_are_unknown(sender, partner_client):
    _client, _app, note, member = sender
    other, _ = partner_client("touches:write")
    body = send(other, [row(note, member, 1)]).json()
    assert body["rejected"][0]["code"] == "touch_note_unknown" and not Touch.objects.exists()


def test_touches_need_the_touches_write_scope(partner_client):
    client, _app = partner_client("notes:write")
    assert send(client, []).status_code == 403


def test_a_batch_of_a_thousand_costs_a_fixed_number_of_queries(sender, django_assert_max_num_queries):
    client, _app, note, member = sender
    rows = [row(note, member, n) for n in range(TOUCH_BATCH_LIMIT)]
    with django_assert_max_num_queries(8):  # token, application, notes, members, one INSERT, transaction
        assert send(client, rows).json()["accepted"] == TOUCH_BATCH_LIMIT


def test_touch_times_are_stored_to_the_microsecond_whatever_the_offset(sender):
    client, _app, note, member = sender
    base = (timezone.now() - timedelta(days=1)).replace(microsecond=123456)
    shanghai = timezone.get_fixed_timezone(480)
    rows = [
        row(note, member, 1, at=base.astimezone(shanghai).isoformat()),
        row(note, member, 2, at=(base + timedelta(microseconds=1)).isoformat()),
    ]
    assert send(client, rows).json()["accepted"] == 2
    assert Touch.objects.get(external_id="t-1").touched_at == base
    assert Touch.objects.get(external_id="t-2").touched_at == base + timedelta(microseconds=1)


def test_member_ids_are_matched_in_any_case(sender):
    client, _app, note, member = sender
    body = send(client, [row(note, member, 1, member=str(member.public_id).upper())]).json()
    assert body["accepted"] == 1 and body["rejected"] == []
