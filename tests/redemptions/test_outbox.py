"""The outbox: credit, webhook and notice follow the confirmation's commit, exactly once, and a failure in
them never refuses or loses a payment."""

from __future__ import annotations

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from core.models import Notification, PartnerApplication, WebhookEndpoint, WebhookEvent
from merchants.models import PartnerGrant
from redemptions.counter import outbox, services
from redemptions.models import AttributionCredit, Redemption, RedemptionOutbox
from tests.factories import PartnerApplicationFactory
from tests.factories.attribution import NoteFactory, touch
from tests.factories.redemptions import code_of, member_with_card

pytestmark = pytest.mark.django_db


def listening_partner(merchant) -> PartnerApplication:
    """A partner POS granted at the shop, with an endpoint that wants every event."""
    pos = PartnerApplicationFactory()
    PartnerGrant.objects.create(merchant=merchant, application=pos, scopes="redemptions:write")
    WebhookEndpoint.objects.create(application=pos, url="http://127.0.0.1:9/hooks")
    return pos


def effects(redemption: Redemption) -> tuple[int, int, list[str]]:
    """(attribution credits, "you saved" notices, webhook event types) this redemption has produced."""
    credits = AttributionCredit.objects.filter(redemption=redemption).count()
    notices = Notification.objects.filter(user=redemption.member, kind="redemptions.confirmed").count()
    events = sorted(
        WebhookEvent.objects.filter(payload__data__redemption=str(redemption.public_id)).values_list("type", flat=True)
    )
    return credits, notices, events


def test_the_confirm_transaction_writes_one_outbox_row_and_the_commit_processes_it(
    merchant, counter, member, django_capture_on_commit_callbacks
):
    listening_partner(merchant)
    touch(NoteFactory(tags=[merchant]), member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    # Inside the money transaction: the redemption and its outbox row, none of the side effects.
    assert effects(redemption) == (0, 0, [])
    row = RedemptionOutbox.objects.get(redemption=redemption)
    assert (row.event, row.done_at) == ("confirmed", None)
    for callback in callbacks:
        callback()
    row.refresh_from_db()
    assert row.done_at is not None
    assert effects(redemption) == (3, 1, ["redemption.confirmed"])  # three attribution models, one note


def test_processing_again_does_nothing_twice(merchant, counter, member, django_capture_on_commit_callbacks):
    listening_partner(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    row = RedemptionOutbox.objects.get(redemption=redemption)
    assert outbox.outbox_process(entry_ids=[row.pk]) == 0
    assert outbox.outbox_catch_up() == 0
    assert effects(redemption) == (0, 1, ["redemption.confirmed"])


def test_a_bug_in_a_side_effect_neither_refuses_the_payment_nor_loses_the_row(
    merchant, counter, member, django_capture_on_commit_callbacks, monkeypatch
):
    """Attribution raising (a bug in marketing code): the redemption stands, the row's side effects roll
    back together and it waits, counted, for the catch-up, which does it once the bug is gone."""
    listening_partner(merchant)
    touch(NoteFactory(tags=[merchant]), member)

    def broken(**kwargs):
        raise RuntimeError("attribution bug")

    monkeypatch.setattr(outbox, "credit_redemptions", broken)  # the batch's set-wise credit...
    monkeypatch.setattr(outbox, "credit_redemption", broken)  # ...and the one-by-one fallback's
    with django_capture_on_commit_callbacks(execute=True):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    assert Redemption.objects.filter(pk=redemption.pk, status="confirmed").exists()
    row = RedemptionOutbox.objects.get(redemption=redemption)
    assert row.done_at is None and row.attempts == 1 and "attribution bug" in row.last_error
    assert effects(redemption) == (0, 0, [])  # nothing half-done

    monkeypatch.undo()
    assert outbox.outbox_catch_up() == 1
    assert effects(redemption) == (3, 1, ["redemption.confirmed"])


def test_a_void_writes_its_own_row_that_reverses_the_credit_and_tells_the_partner(
    merchant, counter, member, django_capture_on_commit_callbacks
):
    listening_partner(merchant)
    touch(NoteFactory(tags=[merchant]), member)
    with django_capture_on_commit_callbacks(execute=True):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    with django_capture_on_commit_callbacks(execute=True):
        services.redemption_void(redemption=redemption, actor="system:test", reason="wrong bill")
    rows = RedemptionOutbox.objects.filter(redemption=redemption).order_by("pk")
    assert [(row.event, row.done_at is not None) for row in rows] == [("confirmed", True), ("voided", True)]
    assert effects(redemption) == (0, 1, ["redemption.confirmed", "redemption.voided"])


def test_a_void_processed_before_its_confirmation_row_leaves_no_credit(
    merchant, counter, member, django_capture_on_commit_callbacks
):
    """A dead worker held the confirmation's row; the void went through meanwhile. The catch-up then does
    the confirmation's notice and webhook but credits nothing for a voided redemption."""
    touch(NoteFactory(tags=[merchant]), member)
    with django_capture_on_commit_callbacks(execute=False):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    with django_capture_on_commit_callbacks(execute=False):
        services.redemption_void(redemption=redemption, actor="system:test", reason="wrong bill")
    # Another processor takes the void's row while the dead one still holds the confirmation's.
    assert outbox.outbox_process(entry_ids=[RedemptionOutbox.objects.get(event="voided").pk]) == 1
    assert outbox.outbox_catch_up() == 1
    assert effects(redemption) == (0, 1, [])
    assert not RedemptionOutbox.objects.filter(done_at__isnull=True).exists()


def test_a_row_for_a_redemption_already_credited_completes_and_keeps_the_credits(
    merchant, counter, member, django_capture_on_commit_callbacks
):
    """The late-touch catch-up (or the demo's history) may credit a redemption before its outbox row is
    processed: the row still completes (notice, webhook) and the credits are not doubled nor an error."""
    from redemptions.attribution.services import credit_redemption

    touch(NoteFactory(tags=[merchant]), member)
    with django_capture_on_commit_callbacks(execute=False):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
    credit_redemption(redemption=redemption)  # credited first, by someone else
    row = RedemptionOutbox.objects.get(redemption=redemption)
    assert outbox.outbox_process(entry_ids=[row.pk]) == 1
    row.refresh_from_db()
    assert row.done_at is not None and row.attempts == 0
    assert effects(redemption)[:2] == (3, 1)


def pending_confirmations(merchant, counter, count: int, django_capture_on_commit_callbacks) -> list[Redemption]:
    """``count`` members' confirmations at ``merchant`` (each member touched a note of the shop), their
    outbox rows left pending for a processor."""
    note = NoteFactory(tags=[merchant])
    made = []
    for _ in range(count):
        member = member_with_card()
        touch(note, member)
        with django_capture_on_commit_callbacks(execute=False):
            made.append(
                services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
            )
    return made


def test_a_batch_is_applied_set_wise_in_a_few_statements(
    merchant, counter, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """Twenty rows cost what one does: the statement count does not grow with the batch (the rows' read; in the
    batch's savepoint the touches, the credits, the grants, the endpoints, the events, the deliveries, the
    notices; the UPDATE marking them done; the savepoints)."""
    listening_partner(merchant)
    redemptions = pending_confirmations(merchant, counter, 20, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(13):
        assert outbox.outbox_process() == 20
    for redemption in redemptions:
        assert effects(redemption) == (3, 1, ["redemption.confirmed"])


def test_the_set_wise_and_the_one_by_one_paths_write_the_same(
    merchant, counter, django_capture_on_commit_callbacks, monkeypatch
):
    """The payloads, notices and credits of a batch are those the row-by-row path writes (a confirmation, and
    another confirmation voided before its rows were processed)."""
    listening_partner(merchant)

    def written(redemptions: list[Redemption]) -> list[tuple]:
        out = []
        for r in redemptions:
            events = WebhookEvent.objects.filter(payload__data__redemption=str(r.public_id)).order_by("pk")
            notices = Notification.objects.filter(user=r.member, kind="redemptions.confirmed")
            credits = AttributionCredit.objects.filter(redemption=r).order_by("model", "note_id")
            out.append(
                (
                    [(e.type, e.payload["data"]) for e in events],
                    [(n.title, n.body, n.url, n.created_at) for n in notices],
                    [(c.model, c.share_ppm, c.revenue_fen, c.local_date) for c in credits],
                )
            )
        return out

    def two_rows() -> list[Redemption]:
        kept, voided = pending_confirmations(merchant, counter, 2, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=False):
            services.redemption_void(redemption=voided, actor="system:test", reason="wrong bill")
        return [kept, voided]

    batch = two_rows()
    assert outbox.outbox_catch_up() == 3
    monkeypatch.setattr(outbox, "_apply_many", lambda rows: 1 / 0)  # every batch falls back to row by row
    one_by_one = two_rows()
    assert outbox.outbox_catch_up() == 3

    by_batch, by_row = written(batch), written(one_by_one)
    kept = batch[0]
    assert by_batch[0][0] == [
        (
            "redemption.confirmed",
            {
                "redemption": str(kept.public_id),
                "merchant": str(merchant.public_id),
                "channel": kept.channel,
                "status": "confirmed",
                "bill_fen": 8650,
                "discount_fen": kept.discount_fen,
                "charge_fen": kept.charge_fen,
                "currency": "CNY",
                "local_date": kept.local_date.isoformat(),
                "confirmed_at": DjangoJSONEncoder().default(kept.confirmed_at),
                "voided_at": None,
            },
        )
    ]
    assert [event_type for event_type, _data in by_batch[1][0]] == ["redemption.confirmed", "redemption.voided"]
    assert by_batch[1][0][0][1]["status"] == "confirmed" and by_batch[1][0][1][1]["status"] == "voided"
    assert len(by_batch[0][2]) == 3 and by_batch[1][2] == []  # the voided one credits nothing
    for batch_side, row_side, batch_r, row_r in zip(by_batch, by_row, batch, one_by_one, strict=True):
        for (t1, d1), (t2, d2) in zip(batch_side[0], row_side[0], strict=True):
            ids = {"redemption": str(batch_r.public_id), "redemption_": str(row_r.public_id)}
            assert t1 == t2
            assert d1["redemption"] == ids["redemption"] and d2["redemption"] == ids["redemption_"]
            same = ("merchant", "channel", "status", "bill_fen", "discount_fen", "charge_fen", "currency", "local_date")
            assert {k: d1[k] for k in same} == {k: d2[k] for k in same}
            assert set(d1) == set(d2) and (d1["voided_at"] is None) == (d2["voided_at"] is None)
        assert [n[:3] for n in batch_side[1]] == [n[:3] for n in row_side[1]]
        assert [n[3] for n in batch_side[1]] == [batch_r.confirmed_at]
        assert batch_side[2] == row_side[2]


def poison(monkeypatch, redemption: Redemption) -> None:
    """Make the side effects of ``redemption``'s rows raise (its webhook payload), set-wise and one by one."""
    real_payload = outbox._payload

    def poisoned(of, event):
        if of.pk == redemption.pk:
            raise RuntimeError("poisoned row")
        return real_payload(of, event)

    monkeypatch.setattr(outbox, "_payload", poisoned)


def test_a_poisoned_row_among_good_ones_is_counted_and_the_good_ones_are_done_once(
    merchant, counter, django_capture_on_commit_callbacks, monkeypatch
):
    """One row whose side effects raise makes the set-wise batch roll back; the rows are then applied one by
    one: the good ones once, the bad one counted and left pending, and done once by the catch-up later."""
    listening_partner(merchant)
    good_1, bad, good_2 = pending_confirmations(merchant, counter, 3, django_capture_on_commit_callbacks)
    poison(monkeypatch, bad)
    assert outbox.outbox_process() == 2
    for redemption in (good_1, good_2):
        assert effects(redemption) == (3, 1, ["redemption.confirmed"])
    row = RedemptionOutbox.objects.get(redemption=bad)
    assert row.done_at is None and row.attempts == 1 and "poisoned row" in row.last_error
    assert effects(bad) == (0, 0, [])  # nothing half-done
    assert outbox.outbox_drain() == 0  # the drain leaves failed rows to the catch-up

    monkeypatch.undo()
    assert outbox.outbox_catch_up() == 1
    for redemption in (good_1, bad, good_2):
        assert effects(redemption) == (3, 1, ["redemption.confirmed"])
    assert not RedemptionOutbox.objects.filter(done_at__isnull=True).exists()


def test_a_hidden_note_and_each_citys_window_hold_in_a_batch(merchant, counter, django_capture_on_commit_callbacks):
    """The batch's one touches query keeps ``credit_redemption``'s rules: a hidden note earns nothing, a touch
    outside the shop's city window earns nothing, touches are credited in time order."""
    from datetime import timedelta

    from redemptions.models import AttributionWindow

    AttributionWindow.objects.create(city_id=merchant.city_id, days=2)
    first, second, hidden = NoteFactory(tags=[merchant]), NoteFactory(tags=[merchant]), NoteFactory(tags=[merchant])
    hidden.hidden_at = hidden.published_at
    hidden.save(update_fields=["hidden_at"])
    members = [member_with_card() for _ in range(3)]
    touch(first, members[0], ago=timedelta(hours=5))
    touch(second, members[0], ago=timedelta(hours=1))  # last touch
    touch(hidden, members[1], ago=timedelta(hours=1))
    touch(first, members[2], ago=timedelta(days=3))  # outside the city's two days
    made = []
    for member in members:
        with django_capture_on_commit_callbacks(execute=False):
            made.append(
                services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code_of(member).qr)
            )
    assert outbox.outbox_process() == 3
    credits = {
        model: note_id
        for model, note_id in AttributionCredit.objects.filter(
            redemption=made[0], model__in=["last", "first"]
        ).values_list("model", "note_id")
    }
    assert credits == {"last": second.pk, "first": first.pk}
    assert AttributionCredit.objects.filter(redemption=made[0], model="linear").count() == 2
    assert not AttributionCredit.objects.filter(redemption__in=made[1:]).exists()
