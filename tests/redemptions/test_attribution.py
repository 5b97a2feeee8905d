"""Attribution at confirm time: three models side by side, the window, voids, late touches, purge."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from redemptions.attribution import services as attribution
from redemptions.counter.services import redemption_void
from redemptions.models.attribution import SHARE_ONE, AttributionCredit, AttributionWindow, Touch
from tests.factories.attribution import NoteFactory, content_app, redeem, touch
from tests.factories.redemptions import member_with_card, shop

pytestmark = pytest.mark.django_db


def credits_of(redemption, model):
    return {
        c.note_id: (c.share_ppm, c.revenue_fen)
        for c in AttributionCredit.objects.filter(redemption=redemption, model=model)
    }


def test_allocate_splits_visits_and_bill_exactly():
    t0 = timezone.now()
    touches = [(1, t0), (2, t0 + timedelta(minutes=1)), (3, t0 + timedelta(minutes=2))]
    credits = attribution.allocate(touches=touches, bill_fen=10_001)
    linear = [c for c in credits if c[0] == "linear"]
    assert sum(c[2] for c in linear) == SHARE_ONE and sum(c[3] for c in linear) == 10_001
    assert [c[3] for c in linear] == [3334, 3334, 3333]  # the remainder goes to the earlier notes
    assert ("last", 3, SHARE_ONE, 10_001) in credits and ("first", 1, SHARE_ONE, 10_001) in credits
    assert attribution.allocate(touches=[], bill_fen=500) == []


def test_confirm_credits_the_notes_that_led_to_the_visit_under_three_models():
    merchant, other = shop(), shop()
    member = member_with_card()
    first, last, elsewhere, stale = (
        NoteFactory(tags=[merchant]),
        NoteFactory(tags=[merchant, other]),
        NoteFactory(tags=[other]),
        NoteFactory(tags=[merchant]),
    )
    touch(stale, member, ago=timedelta(days=8))  # outside the default 7-day window
    touch(first, member, ago=timedelta(days=3))
    touch(last, member, ago=timedelta(days=2))
    touch(first, member, ago=timedelta(days=1), kind=Touch.Kind.SAVE)
    touch(elsewhere, member, ago=timedelta(hours=2))  # tags another shop only
    touch(NoteFactory(tags=[merchant]), member_with_card(), ago=timedelta(hours=1))  # someone else's touch

    redemption = redeem(merchant, member, bill_fen=9_000)

    assert credits_of(redemption, "last") == {first.pk: (SHARE_ONE, 9_000)}  # the save, a day ago
    assert credits_of(redemption, "first") == {first.pk: (SHARE_ONE, 9_000)}
    assert credits_of(redemption, "linear") == {first.pk: (666_667, 6_000), last.pk: (333_333, 3_000)}
    assert set(AttributionCredit.objects.values_list("merchant_id", flat=True)) == {merchant.pk}
    assert AttributionCredit.objects.filter(redemption=redemption).first().local_date == redemption.local_date


def test_a_redemption_without_touches_credits_nothing():
    merchant = shop()
    redemption = redeem(merchant, member_with_card())
    assert not AttributionCredit.objects.filter(redemption=redemption).exists()


def test_void_removes_the_credit(django_capture_on_commit_callbacks):
    merchant, member = shop(), member_with_card()
    touch(NoteFactory(tags=[merchant]), member)
    redemption = redeem(merchant, member)
    assert AttributionCredit.objects.filter(redemption=redemption).count() == 3
    with django_capture_on_commit_callbacks(execute=True):  # the void's outbox row, processed on commit
        redemption_void(redemption=redemption, actor="system:test", reason="wrong bill")
    assert not AttributionCredit.objects.filter(redemption=redemption).exists()


def test_the_window_is_configurable_per_city(user):
    merchant, member = shop(), member_with_card()
    note = NoteFactory(tags=[merchant])
    touch(note, member, ago=timedelta(days=3))
    attribution.attribution_window_set(city=merchant.city, days=2, actor=user)
    assert AttributionWindow.objects.get(city=merchant.city).days == 2
    assert not AttributionCredit.objects.filter(redemption=redeem(merchant, member)).exists()


def test_a_hidden_note_earns_no_new_credit():
    merchant, member = shop(), member_with_card()
    note = NoteFactory(tags=[merchant])
    touch(note, member)
    attribution.note_hide(source=note.source, external_id=note.external_id)
    assert not AttributionCredit.objects.filter(redemption=redeem(merchant, member)).exists()


def test_crediting_costs_one_query_and_one_insert(django_assert_num_queries):
    merchant, member = shop(), member_with_card()
    for days in (1, 2, 3):
        touch(NoteFactory(tags=[merchant]), member, ago=timedelta(days=days))
    redemption = redeem(merchant, member)
    AttributionCredit.objects.filter(redemption=redemption).delete()
    assert redemption.merchant.city_id  # the merchant is loaded with the redemption, as in confirm
    with django_assert_num_queries(2):
        attribution.credit_redemption(redemption=redemption)
    assert AttributionCredit.objects.filter(redemption=redemption).count() == 5


def test_a_late_touch_is_credited_by_the_catch_up_job():
    merchant, member = shop(), member_with_card()
    note = NoteFactory(tags=[merchant])
    redemption = redeem(merchant, member)
    assert attribution.credits_catch_up() == 0
    # The content app delivers, after the redemption, a touch from before it.
    source = note.source
    result = attribution.touches_ingest(
        source=source,
        rows=[
            {
                "external_id": "late-1",
                "note": note.external_id,
                "member": str(member.public_id),
                "kind": "view",
                "at": (redemption.confirmed_at - timedelta(hours=5)).isoformat(),
            },
            {  # a touch after the redemption is not credited to it
                "external_id": "after-1",
                "note": note.external_id,
                "member": str(member.public_id),
                "kind": "click",
                "at": (redemption.confirmed_at + timedelta(seconds=30)).isoformat(),
            },
        ],
    )
    assert result.accepted == 2
    assert attribution.credits_catch_up() == 1
    assert credits_of(redemption, "last") == {note.pk: (SHARE_ONE, redemption.bill_fen)}
    assert attribution.credits_catch_up() == 0  # the cursor moved on: nothing twice
    assert AttributionCredit.objects.filter(redemption=redemption).count() == 3


def test_catch_up_leaves_voided_redemptions_alone():
    merchant, member = shop(), member_with_card()
    note = NoteFactory(tags=[merchant])
    redemption = redeem(merchant, member)
    redemption_void(redemption=redemption, actor="system:test", reason="mistake")
    touch(note, member, at=redemption.confirmed_at - timedelta(hours=1))
    assert attribution.credits_catch_up() == 0
    assert not AttributionCredit.objects.exists()


def test_purge_deletes_touches_older_than_the_retention_period(settings):
    settings.REDCARD_TOUCH_RETENTION_DAYS = 120
    member, note = member_with_card(), NoteFactory()
    old = touch(note, member, ago=timedelta(days=121))
    recent = touch(note, member, ago=timedelta(days=119))
    assert attribution.touches_purge(batch=1) == 1
    assert list(Touch.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Touch.objects.filter(pk=old.pk).exists()


def test_retention_is_never_shorter_than_the_longest_window(settings):
    settings.REDCARD_TOUCH_RETENTION_DAYS = 3
    assert attribution.retention_days() == attribution.MAX_WINDOW_DAYS


def test_home_district_is_where_the_member_redeems_most():
    from merchants.models import District
    from redemptions.models.attribution import MemberHomeDistrict

    member = member_with_card()
    a = shop()
    b_district = District.objects.create(city=a.city, code="xuhui", name_zh="徐汇区", name_en="Xuhui")
    b1, b2 = shop(district=b_district), shop(district=b_district)
    for merchant in (a, b1, b2):
        redeem(merchant, member)
    assert attribution.home_districts_refresh() == 1
    assert MemberHomeDistrict.objects.get(member=member).district == b_district


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_is_stored_once():
    source = content_app()
    note = NoteFactory(source=source)
    members = [member_with_card() for _ in range(3)]
    rows = [
        {
            "external_id": f"dup-{i}",
            "note": note.external_id,
            "member": str(members[i % 3].public_id),
            "kind": "view",
            "at": (timezone.now() - timedelta(minutes=i + 1)).isoformat(),
        }
        for i in range(300)
    ]
    results, barrier = [], threading.Barrier(4)

    def send():
        try:
            barrier.wait()
            results.append(attribution.touches_ingest(source=source, rows=rows))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Touch.objects.count() == 300
    assert sum(r.accepted for r in results) == 300
    assert sum(r.duplicates for r in results) == 900


@pytest.mark.django_db(transaction=True)
def test_a_void_racing_the_catch_up_job_leaves_no_credit():
    """The catch-up job locks the redemption before recomputing and skips it once voided; the void locks
    it and deletes the credits: whichever goes first, a voided redemption ends with no credit."""
    merchant = shop()
    pairs = []
    for _ in range(6):
        member = member_with_card()
        touch(NoteFactory(tags=[merchant]), member, ago=timedelta(hours=3))
        pairs.append(redeem(merchant, member))
    errors = []

    def void(redemption, barrier):
        try:
            barrier.wait()
            redemption_void(redemption=redemption, actor="system:test", reason="race")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def recompute(redemption, barrier):
        try:
            barrier.wait()
            attribution.recredit(redemption_id=redemption.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    for redemption in pairs:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=void, args=(redemption, barrier)),
            threading.Thread(target=recompute, args=(redemption, barrier)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert not AttributionCredit.objects.filter(redemption__in=pairs).exists()


def test_the_attribution_jobs_are_on_the_beat_and_registered_with_the_workers(settings):
    from redcard.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in ("credits_catch_up", "touches_purge", "home_districts_refresh"):
        assert f"redemptions.attribution_tasks.{task}" in names
        assert f"redemptions.attribution_tasks.{task}" in app.tasks


def test_the_catch_up_task_runs_the_job():
    from redemptions.attribution.tasks import credits_catch_up

    merchant, member = shop(), member_with_card()
    redemption = redeem(merchant, member)
    touch(NoteFactory(tags=[merchant]), member, at=redemption.confirmed_at - timedelta(minutes=10))
    assert credits_catch_up.delay().get() == 1
    assert AttributionCredit.objects.filter(redemption=redemption).count() == 3
