"""Paid places of member events through the payment provider (the sandbox gateway): checkout, the
provider's notification or the return page, the place released when payment fails or never comes,
and refunds exactly once with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from members.events import payments, services
from members.models import Event, EventPayment, EventRefund, EventRegistration, SandboxOrder
from members.payments import sandbox
from tests.factories import UserFactory
from tests.factories.events import EventFactory, member
from tests.factories.members import deliver_pending
from tests.threads import together

State = EventRegistration.State


def order_of(payment):
    return SandboxOrder.objects.get(out_trade_no=str(payment.public_id))


def paid_event(**fields):
    return EventFactory(price_fen=8800, member_price_fen=6800, **fields)


def registered_and_paid(event, person):
    registration = services.registration_create(event=event, user=person)
    payment = registration.payments.get()
    sandbox.pay(order_of(payment))
    deliver_pending()
    registration.refresh_from_db()
    return registration, payment


@pytest.mark.django_db
def test_a_paid_place_is_held_then_registered_when_the_providers_notification_arrives():
    event = paid_event(capacity=2)
    person = member()
    registration = services.registration_create(event=event, user=person)
    assert (registration.state, registration.price_fen) == (State.PENDING_PAYMENT, 6800)  # the member price
    payment = registration.payments.get()
    assert payment.checkout_url and order_of(payment).amount_fen == 6800
    assert Event.objects.get(pk=event.pk).places_taken == 1
    sandbox.pay(order_of(payment))
    assert set(deliver_pending()) == {"ok"}
    registration.refresh_from_db()
    payment.refresh_from_db()
    assert (registration.state, payment.state) == (State.REGISTERED, EventPayment.State.PAID)
    # A duplicate notification changes nothing.
    assert payments.sync(payment=payment) == "already_paid"


@pytest.mark.django_db
def test_the_return_page_settles_a_payment_whose_notification_is_late(client):
    event = paid_event()
    person = member()
    client.force_login(person)
    response = client.post(reverse("members:event_register", args=[event.public_id]))
    payment = EventPayment.objects.get()
    assert response.url == payment.checkout_url  # straight to the hosted checkout
    sandbox.pay(order_of(payment), hold=True)
    page = client.get(reverse("members:event_paid", args=[event.public_id, payment.public_id]), follow=True)
    assert EventRegistration.objects.get().state == State.REGISTERED
    assert "已报名" in page.content.decode()


@pytest.mark.django_db
def test_a_payment_that_never_comes_releases_the_place_to_the_waitlist():
    event = paid_event(capacity=1)
    unpaid, waiting = member(), member()
    registration = services.registration_create(event=event, user=unpaid)
    later = services.registration_create(event=event, user=waiting)
    assert later.state == State.WAITLISTED
    payment = registration.payments.get()
    sandbox.decline(order_of(payment))
    deliver_pending()
    assert EventRegistration.objects.get(pk=registration.pk).state == State.PENDING_PAYMENT  # may still retry
    counts = payments.reconcile(now=timezone.now() + payments.PAYMENT_TIMEOUT + timedelta(seconds=1))
    assert counts == {"released": 1}
    registration.refresh_from_db()
    later.refresh_from_db()
    assert (registration.state, later.state) == (State.LAPSED, State.OFFERED)
    assert order_of(payment).status == SandboxOrder.Status.CLOSED
    with pytest.raises(DomainError) as info:
        sandbox.pay(order_of(payment))
    assert info.value.code == "sandbox_order_closed"
    assert Event.objects.get(pk=event.pk).places_taken == 1  # the offered place, nothing else


@pytest.mark.django_db
def test_a_cancellation_in_time_refunds_once_with_its_reason(django_capture_on_commit_callbacks):
    event = paid_event()
    person = member()
    registration, payment = registered_and_paid(event, person)
    with django_capture_on_commit_callbacks(execute=True):  # the refund is sent after commit
        services.registration_cancel(registration=registration, actor=person)
    refund = EventRefund.objects.get()
    assert (refund.payment_id, refund.amount_fen, refund.state) == (payment.pk, 6800, EventRefund.State.SUCCEEDED)
    assert refund.reason == "cancelled before the cut-off"
    assert order_of(payment).refunded_fen == 6800
    with pytest.raises(DomainError):
        services.registration_cancel(registration=registration, actor=person)
    assert EventRefund.objects.count() == 1


@pytest.mark.django_db
def test_cancelling_the_event_refunds_every_paid_place_and_closes_unpaid_orders(django_capture_on_commit_callbacks):
    event = paid_event(capacity=3)
    paid_one, _ = registered_and_paid(event, member())
    public = UserFactory()
    Event.objects.filter(pk=event.pk).update(public_open_at=timezone.now() - timedelta(minutes=1))
    unpaid = services.registration_create(event=Event.objects.get(pk=event.pk), user=public)
    assert unpaid.price_fen == 8800  # no member price for the public
    with django_capture_on_commit_callbacks(execute=True):
        services.event_cancel(event=event, reason="台风停业", actor="op")
    refund = EventRefund.objects.get()
    assert refund.payment.registration_id == paid_one.pk and refund.reason == "event cancelled: 台风停业"
    assert order_of(unpaid.payments.get()).status == SandboxOrder.Status.CLOSED


@pytest.mark.django_db
def test_money_that_arrives_after_the_place_was_released_goes_back(django_capture_on_commit_callbacks):
    event = paid_event()
    registration = services.registration_create(event=event, user=member())
    payment = registration.payments.get()
    sandbox.pay(order_of(payment), hold=True)  # paid at the gateway, nobody told us yet
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(registration=registration, actor="person")
    # The cancellation closed the order: the provider says it was paid, so the refund follows.
    payment.refresh_from_db()
    assert payment.state == EventPayment.State.PAID
    assert EventRefund.objects.get().state == EventRefund.State.SUCCEEDED
    assert EventRegistration.objects.get().state == State.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_a_payment_racing_the_timeout_either_keeps_the_place_or_releases_it_never_both():
    event = paid_event(capacity=1)
    registration = services.registration_create(event=event, user=member())
    payment = registration.payments.get()
    late = timezone.now() + payments.PAYMENT_TIMEOUT + timedelta(seconds=1)

    def pay():
        sandbox.pay(order_of(payment))
        return deliver_pending()

    outcomes = together([pay, lambda: payments.reconcile(now=late)])
    registration.refresh_from_db()
    payment.refresh_from_db()
    taken = Event.objects.get(pk=event.pk).places_taken
    if registration.state == State.REGISTERED:
        assert (payment.state, taken, EventRefund.objects.count()) == (EventPayment.State.PAID, 1, 0), outcomes
    else:
        assert registration.state == State.LAPSED, outcomes
        assert taken == 0
        # Closed before the payer got there (the sandbox refuses to pay a closed order) or paid at the
        # last moment and refunded: never a place kept without money, never money kept without a place.
        assert payment.state == EventPayment.State.FAILED or EventRefund.objects.filter(payment=payment).exists()


@pytest.mark.django_db(transaction=True)
def test_two_cancellations_at_once_refund_once():
    event = paid_event()
    person = member()
    registration, payment = registered_and_paid(event, person)

    def cancel():
        return services.registration_cancel(registration=registration, actor=person).state

    outcomes = together([cancel, cancel])
    assert sorted(outcomes) == ["cancelled", "event_registration_not_live"], outcomes
    assert EventRefund.objects.count() == 1
    assert order_of(payment).refunded_fen == 6800
