"""Member events in /api/v1/: list, register, waitlist number, confirm, cancel, problem+json codes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from members.events import services
from members.models import Event, EventRegistration
from tests.factories.events import EventFactory, member

pytestmark = pytest.mark.django_db
State = EventRegistration.State


def test_anyone_lists_published_events_with_local_start_and_places_left(api_client):
    event = EventFactory(capacity=5)
    EventFactory(state="in_review")
    body = api_client.get(reverse("api-events")).json()
    assert [row["id"] for row in body["results"]] == [str(event.public_id)]
    row = body["results"][0]
    assert row["places_left"] == 5 and row["timezone"] == "Asia/Shanghai"
    assert row["starts_local"] == services.local_text(event, event.starts_at)
    assert api_client.get(reverse("api-event", args=[event.public_id])).json()["title"] == event.title


def test_register_waitlist_confirm_and_cancel_through_the_api(api_client):
    event = EventFactory(capacity=1)
    first, second = member(), member()
    api_client.force_login(first)
    mine = api_client.post(reverse("api-event-register", args=[event.public_id]), {}, format="json")
    assert mine.status_code == 201 and mine.json()["state"] == "registered"
    again = api_client.post(reverse("api-event-register", args=[event.public_id]), {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "event_already_registered"
    assert again["Content-Type"].startswith("application/problem+json")
    api_client.force_login(second)
    waiting = api_client.post(reverse("api-event-register", args=[event.public_id]), {}, format="json").json()
    assert (waiting["state"], waiting["waitlist_position"]) == ("waitlisted", 1)
    api_client.force_login(first)
    cancel = api_client.post(reverse("api-event-registration-cancel", args=[mine.json()["id"]]), format="json")
    assert cancel.json()["state"] == "cancelled"
    api_client.force_login(second)
    listed = api_client.get(reverse("api-event-registrations-mine")).json()["results"]
    assert listed[0]["state"] == "offered" and listed[0]["offer_expires_at"]
    done = api_client.post(reverse("api-event-registration-confirm", args=[waiting["id"]]), format="json")
    assert done.json()["state"] == "registered"


def test_too_early_and_bad_input_are_refused_with_their_codes(api_client):
    opens = timezone.now() + timedelta(hours=2)
    event = EventFactory(members_open_at=opens, public_open_at=opens + timedelta(hours=1))
    api_client.force_login(member())
    early = api_client.post(reverse("api-event-register", args=[event.public_id]), {}, format="json")
    assert early.status_code == 409 and early.json()["code"] == "event_not_open_yet"
    bad = api_client.post(reverse("api-event-register", args=[event.public_id]), {"guests": 5}, format="json")
    assert bad.status_code == 400
    assert not EventRegistration.objects.exists()


def test_the_attendance_needs_the_organisers_grant(api_client, partner_client):
    event = EventFactory()
    client, _ = partner_client("events:write")
    assert client.get(reverse("api-event-attendance", args=[event.public_id])).status_code == 403
    other, _ = partner_client("merchants:read")
    assert other.get(reverse("api-event-attendance", args=[event.public_id])).status_code == 403


def test_organisers_tools_propose_an_event_for_their_shop_which_waits_for_review(api_client, partner_client):
    from merchants.models import PartnerGrant
    from tests.factories import MerchantFactory

    shop = MerchantFactory()
    client, app = partner_client("events:write")
    body = {
        "merchant": str(shop.public_id),
        "title": "店庆品鉴会",
        "starts_at": "2027-02-01T11:00:00Z",
        "ends_at": "2027-02-01T13:00:00Z",
        "capacity": 20,
        "members_open_at": "2027-01-20T02:00:00Z",
        "public_open_at": "2027-01-22T02:00:00Z",
    }
    refused = client.post(reverse("api-events"), body, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "event_door_not_authorized"
    PartnerGrant.objects.create(application=app, merchant=shop, scopes="events:write")
    bad = client.post(reverse("api-events"), {**body, "public_open_at": "2027-02-02T00:00:00Z"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "event_invalid"
    made = client.post(reverse("api-events"), body, format="json")
    assert made.status_code == 201, made.json()
    assert (made.json()["state"], made.json()["venue"]) == ("in_review", str(shop.public_id))
    assert made.json()["starts_local"] == "2027-02-01 19:00"  # Shanghai, 24-hour clock
    assert api_client.get(reverse("api-events")).json()["results"] == []  # not listed before review


def test_organisers_tools_raise_the_capacity_and_the_waitlist_is_offered_the_places_in_order(partner_client):
    from merchants.models import PartnerGrant
    from tests.factories import MerchantFactory

    shop = MerchantFactory()
    event = EventFactory(capacity=1, venue=shop)
    people = [member() for _ in range(4)]
    registrations = [services.registration_create(event=event, user=person) for person in people]
    assert [r.state for r in registrations] == [State.REGISTERED] + [State.WAITLISTED] * 3
    client, app = partner_client("events:write")
    url = reverse("api-event-capacity", args=[event.public_id])
    refused = client.post(url, {"capacity": 3}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "event_door_not_authorized"
    PartnerGrant.objects.create(application=app, merchant=shop, scopes="events:write")
    raised = client.post(url, {"capacity": 3}, format="json")
    assert raised.status_code == 200, raised.json()
    body = raised.json()
    assert (body["promoted"], body["counts"]["capacity"], body["counts"]["places_taken"]) == (2, 3, 3)
    states = [EventRegistration.objects.get(pk=r.pk).state for r in registrations]
    assert states == [State.REGISTERED, State.OFFERED, State.OFFERED, State.WAITLISTED]  # arrival order
    lowered = client.post(url, {"capacity": 2}, format="json")
    assert lowered.status_code == 400 and lowered.json()["code"] == "event_capacity_invalid"
    for bad in ({"capacity": 0}, {"capacity": "many"}, {}):
        answer = client.post(url, bad, format="json")
        assert answer.status_code == 400 and answer["Content-Type"].startswith("application/problem+json")
    assert Event.objects.get(pk=event.pk).capacity == 3


def test_a_person_gives_the_guests_place_back_through_the_api(api_client):
    event = EventFactory(capacity=2, max_guests=1)
    person, waiting = member(), member()
    mine = services.registration_create(event=event, user=person, guests=1)
    later = services.registration_create(event=event, user=waiting)
    api_client.force_login(person)
    url = reverse("api-event-registration-give-back", args=[mine.public_id])
    answer = api_client.post(url, format="json")
    assert answer.status_code == 200 and answer.json()["places"] == 1
    again = api_client.post(url, format="json")
    assert again.status_code == 400 and again.json()["code"] == "event_places_invalid"
    assert EventRegistration.objects.get(pk=later.pk).state == State.OFFERED
