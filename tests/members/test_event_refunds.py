"""Refunds of paid event places through the refund ledger (the card's code): a part given back (the
guest's place) is refunded once, then the rest once; entries and their numbers are committed before
the provider is called; a provider outage is settled by the reconciliation job under the same number;
a refund the provider fails is flagged for an operator, who sends it again once from the console."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from members.events import services
from members.models import Event, EventPayment, EventRefund, EventRegistration, ReconciliationIssue, SandboxOrder
from members.payments import sandbox
from members.services.checkout import payment_notification_receive
from members.services.refunds import refund_retry, refunds_reconcile
from tests.factories import UserFactory
from tests.factories.events import EventFactory, member
from tests.factories.members import deliver_pending
from tests.threads import together

State = EventRegistration.State
LATER = timedelta(minutes=2)


def order_of(payment: EventPayment) -> SandboxOrder:
    return SandboxOrder.objects.get(out_trade_no=str(payment.public_id))


def with_guest_paid(event: Event, person) -> tuple[EventRegistration, EventPayment]:
    registration = services.registration_create(event=event, user=person, guests=1)
    payment = registration.payments.get()
    sandbox.pay(order_of(payment))
    deliver_pending()
    registration.refresh_from_db()
    assert registration.state == State.REGISTERED
    return registration, payment


def guest_event(**fields) -> Event:
    return EventFactory(price_fen=8800, member_price_fen=6800, max_guests=1, **fields)


@pytest.mark.django_db
def test_giving_the_guests_place_back_refunds_that_part_once_then_the_rest_once(django_capture_on_commit_callbacks):
    event = guest_event(capacity=2)
    person, waiting = member(), member()
    registration, payment = with_guest_paid(event, person)
    assert payment.amount_fen == 13600  # two places at the member price
    later = services.registration_create(event=event, user=waiting)
    assert later.state == State.WAITLISTED

    with django_capture_on_commit_callbacks(execute=True):  # the provider is called after commit
        services.registration_reduce(registration=registration, actor=person)
    registration.refresh_from_db()
    later.refresh_from_db()
    assert (registration.places, registration.price_fen, registration.state) == (1, 6800, State.REGISTERED)
    assert later.state == State.OFFERED  # the freed place went to the waitlist
    part = EventRefund.objects.get()
    assert (part.amount_fen, part.state, part.request_key) == (
        6800,
        EventRefund.State.SUCCEEDED,
        f"places:{registration.public_id}:1",
    )
    assert order_of(payment).refunded_fen == 6800

    # Giving back again: nothing left to give back (one place left), nothing refunded.
    with pytest.raises(DomainError) as info:
        services.registration_reduce(registration=registration, actor=person)
    assert info.value.code == "event_places_invalid"

    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, actor=person)
    rest = EventRefund.objects.exclude(pk=part.pk).get()
    assert (rest.amount_fen, rest.state, rest.reason) == (
        6800,
        EventRefund.State.SUCCEEDED,
        "cancelled before the cut-off",
    )
    payment.refresh_from_db()
    assert payment.refunded_fen == order_of(payment).refunded_fen == 13600
    assert Event.objects.get(pk=event.pk).places_taken == 1  # the waiting person's offered place


@pytest.mark.django_db
def test_a_guests_place_is_not_given_back_after_the_cut_off_nor_while_payment_is_open():
    event = guest_event(starts_at=timezone.now() + timedelta(hours=30), cancel_cutoff_hours=24)
    person = member()
    pending = services.registration_create(event=event, user=person, guests=1)
    with pytest.raises(DomainError) as info:
        services.registration_reduce(registration=pending, actor=person)
    assert info.value.code == "event_payment_pending"
    with pytest.raises(DomainError) as info:
        services.registration_reduce(registration=pending, actor=person, at=timezone.now() + timedelta(hours=7))
    assert info.value.code == "event_cancel_cutoff_passed"
    assert EventRefund.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_requests_to_give_the_guests_place_back_at_once_refund_it_once():
    event = guest_event()
    person = member()
    registration, payment = with_guest_paid(event, person)

    def reduce():
        return services.registration_reduce(registration=registration, actor=person).places

    outcomes = together([reduce, reduce, reduce])
    assert sorted(outcomes, key=str) == [1, "event_places_invalid", "event_places_invalid"], outcomes
    refund = EventRefund.objects.get()
    assert refund.amount_fen == 6800 and refund.state == EventRefund.State.SUCCEEDED  # sent after commit
    assert order_of(payment).refunded_fen == 6800
    assert Event.objects.get(pk=event.pk).places_taken == 1


@pytest.mark.django_db
def test_a_provider_outage_leaves_a_committed_entry_that_reconciliation_sends_once(
    settings, django_capture_on_commit_callbacks
):
    event = guest_event()
    person = member()
    _registration, payment = with_guest_paid(event, person)
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "5xx"}
    with django_capture_on_commit_callbacks(execute=True):
        services.event_cancel(event=event, reason="场地停电", actor="op")
    refund = EventRefund.objects.get()
    assert (refund.state, refund.last_error, refund.amount_fen) == ("requested", "payment_gateway_unavailable", 13600)
    assert refund.reason == "event cancelled: 场地停电"
    assert order_of(payment).refunded_fen == 0
    number = refund.public_id
    settings.MEMBERS_SANDBOX_FAULTS = {}
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    assert refunds_reconcile(now=timezone.now() + LATER) == {}
    refund.refresh_from_db()
    assert refund.public_id == number and refund.state == "succeeded" and refund.attempts == 2
    assert order_of(payment).refunded_fen == 13600


def abnormal_notice(refund: EventRefund) -> bytes:
    order = order_of(refund.payment)
    resource = {
        "appid": sandbox.app_id(),
        "mchid": sandbox.merchant_id(),
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "out_refund_no": str(refund.public_id),
        "refund_id": "SBR-abnormal",
        "refund_status": "ABNORMAL",
        "amount": {"total": order.amount_fen, "refund": refund.amount_fen, "currency": "CNY"},
    }
    envelope = {"id": f"n-{refund.pk}", "create_time": "2026-01-01T00:00:00+08:00", "event_type": "REFUND.ABNORMAL"}
    return json.dumps({**envelope, "resource": resource}).encode()


@pytest.mark.django_db
def test_a_failed_event_refund_is_flagged_and_an_operator_sends_it_again_once(
    client, settings, django_capture_on_commit_callbacks
):
    event = guest_event()
    person = member()
    registration, payment = with_guest_paid(event, person)
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "5xx"}
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, actor=person)
    settings.MEMBERS_SANDBOX_FAULTS = {}
    failed = EventRefund.objects.get()
    body = abnormal_notice(failed)
    assert (
        payment_notification_receive(provider_code="sandbox", headers=sandbox.sign(body), body=body) == "refund_failed"
    )
    failed.refresh_from_db()
    payment.refresh_from_db()
    assert failed.state == "failed" and payment.refunded_fen == 0  # no longer counted against the payment
    issue = ReconciliationIssue.objects.get(kind="refund_failed")
    assert issue.out_refund_no == str(failed.public_id) and issue.resolved_at is None
    assert refunds_reconcile(now=timezone.now() + LATER) == {}  # final: never sent again by the job

    # The operators' queue: failed refunds filtered in the console, one action sends them again.
    operator = UserFactory(is_staff=True)
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["view_eventrefund", "add_refund"]))
    client.force_login(operator)
    url = reverse("admin:members_eventrefund_changelist")
    listing = client.get(url, {"state__exact": "failed"})
    assert str(failed.public_id) in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "retry_failed", "_selected_action": [failed.pk]})
    again = EventRefund.objects.exclude(pk=failed.pk).get()
    assert (again.state, again.amount_fen, again.reason) == ("succeeded", 13600, failed.reason)
    assert again.request_key == f"retry:{failed.public_id}"
    issue.refresh_from_db()
    assert issue.resolved_at is not None and operator.email in issue.resolved_by
    assert order_of(payment).refunded_fen == 13600

    # Clicking again sends nothing more.
    client.post(url, {"action": "retry_failed", "_selected_action": [failed.pk]})
    with pytest.raises(DomainError) as info:
        refund_retry(refund=failed, actor="op")
    assert info.value.code == "refund_already_retried"
    with pytest.raises(DomainError) as info:
        refund_retry(refund=again, actor="op")
    assert info.value.code == "refund_not_failed"
    assert EventRefund.objects.count() == 2 and order_of(payment).refunded_fen == 13600


@pytest.mark.django_db(transaction=True)
def test_giving_the_guests_place_back_racing_a_cancellation_never_refunds_more_than_was_paid():
    event = guest_event()
    person = member()
    registration, payment = with_guest_paid(event, person)

    outcomes = together(
        [
            lambda: services.registration_reduce(registration=registration, actor=person).places,
            lambda: services.registration_cancel(registration=registration, actor=person).state,
        ]
    )
    payment.refresh_from_db()
    refunds = sorted(EventRefund.objects.values_list("request_key", "amount_fen"))
    # Either order: the guest's share then the rest, or the whole at once (the reduction then finds the
    # registration cancelled). Never more than was paid, each part once.
    assert payment.refunded_fen == order_of(payment).refunded_fen == 13600, (outcomes, refunds)
    assert sum(amount for _, amount in refunds) == 13600
    assert set(EventRefund.objects.values_list("state", flat=True)) == {"succeeded"}
    assert Event.objects.get(pk=event.pk).places_taken == 0
