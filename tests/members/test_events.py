"""Member events: priority window, waitlist and promotion, cut-off, door check-in, no-shows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry, Notification
from members.events import selectors, services
from members.models import Event, EventCheckIn, EventRegistration
from tests.factories import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.events import EventFactory, member

pytestmark = pytest.mark.django_db
State = EventRegistration.State


def refused(code, fn, *args, **kwargs):
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


def test_member_registers_in_the_priority_window_and_the_public_does_not():
    event = EventFactory()
    registration = services.registration_create(event=event, user=member())
    assert registration.state == State.REGISTERED and registration.as_member
    error = refused("event_not_open_yet", services.registration_create, event=event, user=UserFactory())
    # The opening is shown in the event city's local time, 24-hour clock.
    local = event.public_open_at.astimezone(services.event_zone(event)).strftime("%Y-%m-%d %H:%M")
    assert local in error.detail
    event.refresh_from_db()
    assert event.places_taken == 1


def test_registration_one_second_before_the_priority_window_is_refused_with_its_code():
    opens = timezone.now() + timedelta(hours=5)
    event = EventFactory(members_open_at=opens, public_open_at=opens + timedelta(hours=48))
    person = member()
    refused(
        "event_not_open_yet", services.registration_create, event=event, user=person, at=opens - timedelta(seconds=1)
    )
    assert not EventRegistration.objects.exists()
    assert services.registration_create(event=event, user=person, at=opens).state == State.REGISTERED


def test_the_public_registers_after_the_window_and_members_keep_the_member_price():
    event = EventFactory(
        public_open_at=timezone.now() - timedelta(minutes=1), members_open_at=timezone.now() - timedelta(days=1)
    )
    public = services.registration_create(event=event, user=UserFactory())
    assert public.state == State.REGISTERED and not public.as_member
    priced = EventFactory(
        public_open_at=timezone.now() - timedelta(minutes=1),
        members_open_at=timezone.now() - timedelta(days=1),
        price_fen=8800,
        member_price_fen=6800,
    )
    access = services.registration_access(event=priced, user=member(), at=timezone.now())
    assert access.price_fen == 6800 and access.priority
    assert services.registration_access(event=priced, user=UserFactory(), at=timezone.now()).price_fen == 8800


def test_a_full_event_offers_the_waitlist_in_arrival_order():
    event = EventFactory(capacity=2)
    people = [member() for _ in range(4)]
    states = [services.registration_create(event=event, user=p) for p in people]
    assert [r.state for r in states] == [State.REGISTERED, State.REGISTERED, State.WAITLISTED, State.WAITLISTED]
    assert [r.waitlist_position for r in states[2:]] == [1, 2]
    assert selectors.waiting_ahead(registration=states[3]) == 1
    refused("event_already_registered", services.registration_create, event=event, user=people[0])


def test_a_guest_takes_a_second_place_only_where_allowed():
    refused("event_guests_not_allowed", services.registration_create, event=EventFactory(), user=member(), guests=1)
    event = EventFactory(max_guests=1, capacity=3)
    assert services.registration_create(event=event, user=member(), guests=1).places == 2
    event.refresh_from_db()
    assert event.places_taken == 2
    # One place left: a person with a guest waits, and nobody jumps them.
    assert services.registration_create(event=event, user=member(), guests=1).state == State.WAITLISTED
    assert services.registration_create(event=event, user=member()).state == State.WAITLISTED


def test_a_cancellation_before_the_cut_off_promotes_the_next_who_is_notified_and_confirms():
    event = EventFactory(capacity=1)
    first, second, third = member(), member(), member()
    mine = services.registration_create(event=event, user=first)
    waiting = services.registration_create(event=event, user=second)
    services.registration_create(event=event, user=third)
    services.registration_cancel(registration=mine, actor=first)
    waiting.refresh_from_db()
    assert waiting.state == State.OFFERED and waiting.offer_expires_at is not None
    assert Notification.objects.filter(user=second, kind="event_place_offered").exists()
    event.refresh_from_db()
    assert event.places_taken == 1
    refused("event_offer_not_open", services.offer_confirm, registration=waiting, user=third)
    assert services.offer_confirm(registration=waiting, user=second).state == State.REGISTERED
    assert AuditEntry.objects.filter(action="members.event_registration_offered").count() == 1


def test_an_offer_not_confirmed_in_time_passes_to_the_next():
    event = EventFactory(capacity=1, offer_hours=2)
    first, second, third = member(), member(), member()
    mine = services.registration_create(event=event, user=first)
    offered = services.registration_create(event=event, user=second)
    nxt = services.registration_create(event=event, user=third)
    now = timezone.now()
    services.registration_cancel(registration=mine, actor=first, at=now)
    refused(
        "event_offer_expired", services.offer_confirm, registration=offered, user=second, at=now + timedelta(hours=3)
    )
    assert services.offers_expire(now=now + timedelta(hours=1)) == {"lapsed": 0, "promoted": 0}
    assert services.offers_expire(now=now + timedelta(hours=2, seconds=1)) == {"lapsed": 1, "promoted": 1}
    offered.refresh_from_db()
    nxt.refresh_from_db()
    assert (offered.state, nxt.state) == (State.LAPSED, State.OFFERED)
    event.refresh_from_db()
    assert event.places_taken == 1


@pytest.mark.clock
def test_cancellation_after_the_cut_off_is_refused_and_keeps_the_place():
    event = EventFactory(cancel_cutoff_hours=24)
    person = member()
    registration = services.registration_create(event=event, user=person)
    late = event.starts_at - timedelta(hours=23)
    error = refused(
        "event_cancel_cutoff_passed", services.registration_cancel, registration=registration, actor=person, at=late
    )
    assert (event.starts_at - timedelta(hours=24)).astimezone(services.event_zone(event)).strftime(
        "%H:%M"
    ) in error.detail
    registration.refresh_from_db()
    assert registration.state == State.REGISTERED
    event.refresh_from_db()
    assert event.places_taken == 1


def test_raising_the_capacity_promotes_from_the_waitlist_and_it_cannot_drop_below_taken():
    event = EventFactory(capacity=1)
    services.registration_create(event=event, user=member())
    waiting = [services.registration_create(event=event, user=member()) for _ in range(3)]
    refused("event_capacity_invalid", services.event_capacity_set, event=event, capacity=0, actor="op")
    services.event_capacity_set(event=event, capacity=3, actor="op")
    states = [EventRegistration.objects.get(pk=r.pk).state for r in waiting]
    assert states == [State.OFFERED, State.OFFERED, State.WAITLISTED]
    refused("event_capacity_invalid", services.event_capacity_set, event=event, capacity=2, actor="op")


def test_cancelling_the_event_ends_every_registration_with_the_reason():
    event = EventFactory(capacity=1)
    a, b = member(), member()
    services.registration_create(event=event, user=a)
    services.registration_create(event=event, user=b)
    refused("event_reason_required", services.event_cancel, event=event, reason=" ", actor="op")
    services.event_cancel(event=event, reason="暴雨预警", actor="op")
    assert set(EventRegistration.objects.values_list("state", "end_reason")) == {(State.CANCELLED, "暴雨预警")}
    assert Notification.objects.filter(kind="event_cancelled").count() == 2
    refused("event_cancelled", services.registration_create, event=event, user=member())


def test_review_publishes_and_a_rejection_needs_a_reason():
    shop = MerchantFactory()
    now = timezone.now()
    data = services.EventInput(
        title="周末拉花课",
        description="",
        city_id=shop.city_id,
        lat=shop.lat,
        lng=shop.lng,
        venue_id=shop.pk,
        starts_at=now + timedelta(days=5),
        ends_at=now + timedelta(days=5, hours=2),
        capacity=12,
        members_open_at=now,
        public_open_at=now + timedelta(days=2),
    )
    event = services.event_create(data=data, actor="owner", organiser_id=shop.pk)
    assert event.state == Event.State.IN_REVIEW
    refused("event_not_published", services.registration_create, event=event, user=member())
    refused("event_reason_required", services.event_review, event=event, approve=False, actor="curator")
    assert services.event_review(event=event, approve=True, actor="curator").state == Event.State.PUBLISHED
    assert list(selectors.events_of_merchant(merchant=shop)) == [event]
    bad = services.EventInput(
        **{**data.__dict__, "ends_at": data.starts_at, "public_open_at": data.starts_at + timedelta(days=1)}
    )
    error = refused("event_invalid", services.event_create, data=bad, actor="owner")
    assert "；" in error.detail or ";" in error.detail


def at_event(event, minutes=10):
    return event.starts_at + timedelta(minutes=minutes)


@pytest.mark.clock
def test_check_in_is_green_once_with_the_places_and_red_with_a_plain_reason():
    event = EventFactory(capacity=2, max_guests=1, starts_at=timezone.now() + timedelta(days=2))
    guest_holder, waiting, stranger = member(), member(), member()
    services.registration_create(event=event, user=guest_holder, guests=1)
    services.registration_create(event=event, user=waiting, guests=1)
    when = at_event(event)
    checkin = services.event_checkin(event=event, user=guest_holder, method="member_code", by="door", at=when)
    assert checkin.places == 2
    refused(
        "event_already_checked_in",
        services.event_checkin,
        event=event,
        user=guest_holder,
        method="member_code",
        by="door",
        at=when,
    )
    refused(
        "event_on_waitlist", services.event_checkin, event=event, user=waiting, method="member_code", by="door", at=when
    )
    refused(
        "event_not_registered",
        services.event_checkin,
        event=event,
        user=stranger,
        method="member_code",
        by="door",
        at=when,
    )
    refused(
        "event_not_today",
        services.event_checkin,
        event=event,
        user=guest_holder,
        method="member_code",
        by="door",
        at=event.starts_at - timedelta(days=1),
    )


@pytest.mark.parametrize("utc_hour", [15, 16])
def test_event_day_is_the_city_day_at_midnight_in_shanghai(utc_hour):
    # 16:00 UTC is midnight in Shanghai: an event on the 6th (local) opens its door at 00:00 local.
    start = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # 19:00 in Shanghai on the 6th
    event = EventFactory(
        starts_at=start,
        members_open_at=datetime(2026, 12, 1, tzinfo=UTC),
        public_open_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    person = member()
    services.registration_create(event=event, user=person, at=datetime(2026, 12, 3, tzinfo=UTC))
    scan = datetime(2026, 12, 5, utc_hour, 0, tzinfo=UTC)
    if utc_hour == 15:  # 23:00 on the 5th in Shanghai
        refused("event_not_today", services.event_checkin, event=event, user=person, method="list", by="door", at=scan)
    else:
        assert services.event_checkin(event=event, user=person, method="list", by="door", at=scan).places == 1


def test_registration_qr_checks_in_a_person_without_a_card():
    event = EventFactory(
        public_open_at=timezone.now() - timedelta(minutes=1), members_open_at=timezone.now() - timedelta(days=1)
    )
    person = UserFactory()
    registration = services.registration_create(event=event, user=person)
    text = services.ticket_text(registration=registration)
    assert services.looks_like_ticket(text)
    found = services.ticket_registration(text=text, event=event)
    checkin = services.event_checkin(
        event=event, registration=found, method="registration_qr", by="door", at=at_event(event)
    )
    assert checkin.registration_id == registration.pk
    refused("event_ticket_invalid", services.ticket_registration, text=text[:-2] + "xx", event=event)
    refused("event_not_registered", services.ticket_registration, text=text, event=EventFactory())


@pytest.mark.clock
def test_no_shows_are_counted_once_and_repeated_ones_cost_the_priority_window(settings):
    settings.REDCARD_EVENT_NO_SHOW_LIMIT = 2
    person = member()
    past = []
    for _ in range(2):
        event = EventFactory(starts_at=timezone.now() + timedelta(days=1))
        services.registration_create(event=event, user=person)
        past.append(event)
    came = member()
    services.registration_create(event=past[0], user=came)
    services.event_checkin(event=past[0], user=came, method="list", by="door", at=at_event(past[0]))
    after = past[-1].ends_at + timedelta(hours=1)
    assert services.no_shows_settle(now=after) == {"events": 2, "no_shows": 2}
    assert services.no_shows_settle(now=after) == {"events": 0, "no_shows": 0}
    assert services.no_show_count(user=person, at=after) == 2
    counts = selectors.event_counts(event=past[0])
    assert (counts.checked_in, counts.no_shows) == (1, 1)
    upcoming = EventFactory(
        starts_at=after + timedelta(days=5),
        members_open_at=after - timedelta(hours=1),
        public_open_at=after + timedelta(days=2),
    )
    access = services.registration_access(event=upcoming, user=person, at=after)
    assert access.penalised and not access.priority and access.as_member
    refused("event_not_open_yet", services.registration_create, event=upcoming, user=person, at=after)
    assert services.registration_access(event=upcoming, user=came, at=after).priority
    settings.REDCARD_EVENT_NO_SHOW_LIMIT = 0  # switched off
    assert services.registration_access(event=upcoming, user=person, at=after).priority


def test_door_staff_are_the_shops_staff_and_operators():
    shop = MerchantFactory()
    event = EventFactory(venue=shop)
    staff = MerchantStaffFactory(merchant=shop).user
    services.door_authorize(event=event, user=staff)
    refused("event_door_not_authorized", services.door_authorize, event=event, user=MerchantStaffFactory().user)
    assert selectors.door_events(user=staff, at=event.starts_at - timedelta(hours=1)) == [event]


def test_a_check_in_row_is_unique_per_registration():
    event = EventFactory()
    registration = services.registration_create(event=event, user=member())
    services.event_checkin(event=event, registration=registration, method="list", by="door", at=at_event(event))
    assert EventCheckIn.objects.count() == 1


def test_partners_get_webhooks_for_registration_promotion_check_in_and_cancellation():
    from core.models import WebhookEndpoint, WebhookEvent
    from tests.factories import PartnerApplicationFactory

    WebhookEndpoint.objects.create(
        application=PartnerApplicationFactory(), url="https://partner.example/hooks", event_types=[]
    )
    event = EventFactory(capacity=2, max_guests=1, state=Event.State.IN_REVIEW)
    services.event_review(event=event, approve=True, actor="curator")
    first, second = member(), member()
    mine = services.registration_create(event=event, user=first, guests=1)
    later = services.registration_create(event=event, user=second)
    services.registration_reduce(registration=mine, actor=first)
    services.offer_confirm(registration=later, user=second)
    services.event_checkin(event=event, user=first, method="member_code", by="door", at=at_event(event))
    services.event_cancel(event=event, reason="暴雨", actor="op")
    rows = list(WebhookEvent.objects.order_by("pk").values_list("type", "payload"))
    assert [kind for kind, _ in rows] == [
        "event.published",
        "event.registered",
        "event.waitlisted",
        "event.reduced",
        "event.promoted",
        "event.registered",
        "event.checked_in",
        "event.cancelled",
        "event.cancelled",
        "event.cancelled",
    ]
    promoted = rows[4][1]["data"]
    assert promoted["registration"] == str(later.public_id) and promoted["member"] == str(second.public_id)
    assert promoted["confirm_by"] and rows[6][1]["data"]["places"] == 1
    assert rows[-1][1]["data"] == {"event": str(event.public_id), "reason": "暴雨"}
