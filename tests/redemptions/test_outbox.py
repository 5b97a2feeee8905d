"""The outbox: credit, webhook and notice follow the confirmation's commit, exactly once, and a failure in
them never refuses or loses a payment."""

from __future__ import annotations

import pytest

from core.models import Notification, PartnerApplication, WebhookEndpoint, WebhookEvent
from merchants.models import PartnerGrant
from redemptions.counter import outbox, services
from redemptions.models import AttributionCredit, Redemption, RedemptionOutbox
from tests.factories import PartnerApplicationFactory
from tests.factories.attribution import NoteFactory, touch
from tests.factories.redemptions import code_of

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

    monkeypatch.setattr(outbox, "credit_redemption", broken)
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
