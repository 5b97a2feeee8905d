"""Member events under real concurrency: threads on PostgreSQL, each with its own connection.

The guards are the event's row lock (places and waitlist numbers change only under it, backed by the
check constraint ``places_taken <= capacity``) and the one-to-one check-in row; removing either makes
a test here fail.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from members.events import services
from members.models import Event, EventCheckIn, EventRegistration
from tests.factories.events import EventFactory, member
from tests.threads import together

pytestmark = pytest.mark.django_db(transaction=True)
State = EventRegistration.State


def test_thirty_members_at_once_for_ten_places_make_ten_registered_and_twenty_waitlisted_in_order():
    event = EventFactory(capacity=10)
    people = [member() for _ in range(30)]

    def register(person):
        return lambda: services.registration_create(event=event, user=person).state

    outcomes = together([register(p) for p in people])
    assert sorted(outcomes) == sorted([State.REGISTERED] * 10 + [State.WAITLISTED] * 20), outcomes
    event.refresh_from_db()
    assert event.places_taken == 10 and event.waitlist_seq == 20
    rows = list(EventRegistration.objects.filter(event=event).order_by("pk"))
    waiting = [r for r in rows if r.state == State.WAITLISTED]
    # Arrival order: rows are written under the event lock, so insertion order is the order of arrival;
    # waitlist numbers are 1..20 in that order and every registered row arrived before every waiting one.
    assert [r.waitlist_position for r in waiting] == list(range(1, 21))
    assert [r.state for r in rows] == [State.REGISTERED] * 10 + [State.WAITLISTED] * 20
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)


def test_two_cancellations_and_a_capacity_increase_racing_the_promotion_job_fill_each_place_once():
    event = EventFactory(capacity=10, offer_hours=1)
    holders = [member() for _ in range(10)]
    registered = [services.registration_create(event=event, user=p) for p in holders]
    waiting = [services.registration_create(event=event, user=member()) for _ in range(6)]
    # One earlier offer has lapsed: the job will pass that place on too.
    services.registration_cancel(registration=registered[9], actor=holders[9])
    lapsed = EventRegistration.objects.get(pk=waiting[0].pk)
    assert lapsed.state == State.OFFERED
    EventRegistration.objects.filter(pk=lapsed.pk).update(offer_expires_at=lapsed.created_at)
    outcomes = together(
        [
            lambda: services.registration_cancel(registration=registered[0], actor=holders[0]).state,
            lambda: services.registration_cancel(registration=registered[1], actor=holders[1]).state,
            lambda: services.event_capacity_set(event=event, capacity=11, actor="op").capacity,
            services.offers_expire,
            lambda: services.waitlist_promote(event=event),
        ]
    )
    assert outcomes[:3] == [State.CANCELLED, State.CANCELLED, 11], outcomes
    event.refresh_from_db()
    holding = EventRegistration.objects.filter(
        event=event, state__in=(State.REGISTERED, State.OFFERED, State.PENDING_PAYMENT)
    )
    assert event.places_taken == event.capacity == 11
    assert sum(holding.values_list("places", flat=True)) == 11
    # Freed: 2 cancellations + 1 new place + the lapsed offer = 4 places, offered to the next four in order.
    offered = list(EventRegistration.objects.filter(event=event, state=State.OFFERED).order_by("waitlist_position"))
    assert [r.waitlist_position for r in offered] == [2, 3, 4, 5]
    assert EventRegistration.objects.get(pk=lapsed.pk).state == State.LAPSED
    assert EventRegistration.objects.filter(event=event, state=State.WAITLISTED).count() == 1


def test_the_same_person_at_two_doors_checks_in_once():
    event = EventFactory()
    person = member()
    services.registration_create(event=event, user=person)
    at = event.starts_at + timedelta(minutes=5)

    def door(name):
        return lambda: services.event_checkin(event=event, user=person, method="member_code", by=name, at=at).places

    outcomes = together([door(f"door {n}") for n in range(6)])
    assert sorted(outcomes, key=str) == sorted([1] + ["event_already_checked_in"] * 5, key=str), outcomes
    assert EventCheckIn.objects.count() == 1
    assert Event.objects.get(pk=event.pk).places_taken == 1
