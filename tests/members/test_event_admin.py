"""The events console: review, capacity change promoting from the waitlist, cancellation, export."""

import pytest
from django.urls import reverse

from members.events import services
from members.models import Event, EventRegistration
from tests.factories import UserFactory
from tests.factories.events import EventFactory, member

pytestmark = pytest.mark.django_db
State = EventRegistration.State


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def act(client, action, events, **extra):
    return client.post(
        reverse("admin:members_event_changelist"),
        {"action": action, "_selected_action": [e.pk for e in events], **extra},
        follow=True,
    )


def test_publish_and_reject_with_a_note(admin_client):
    first, second = EventFactory(state="in_review"), EventFactory(state="in_review")
    act(admin_client, "publish", [first])
    page = act(admin_client, "reject", [second]).content.decode()
    assert 'name="reason"' in page  # asks for the note first
    act(admin_client, "reject", [second], apply="1", reason="地址不清楚")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state, second.review_note) == ("published", "rejected", "地址不清楚")


def test_raising_the_capacity_in_admin_promotes_from_the_waitlist(admin_client):
    event = EventFactory(capacity=1)
    services.registration_create(event=event, user=member())
    waiting = services.registration_create(event=event, user=member())
    act(admin_client, "change_capacity", [event], apply="1", capacity="2")
    waiting.refresh_from_db()
    assert waiting.state == State.OFFERED
    page = admin_client.get(reverse("admin:members_event_change", args=[event.pk])).content.decode()
    assert 'name="capacity"' not in page  # changed only through the action


def test_cancel_and_export(admin_client):
    event = EventFactory()
    person = member()
    services.registration_create(event=event, user=person)
    export = act(admin_client, "export_attendance", [event])
    assert person.email in export.content.decode("utf-8-sig")
    act(admin_client, "cancel_events", [event], apply="1", reason="场地维修")
    assert Event.objects.get(pk=event.pk).state == "cancelled"
    assert EventRegistration.objects.get().state == State.CANCELLED


def test_a_new_event_from_admin_enters_review(admin_client):
    from tests.factories import CityFactory

    city = CityFactory()
    response = admin_client.post(
        reverse("admin:members_event_add"),
        {
            "title": "新年市集",
            "description": "",
            "city": city.pk,
            "address": "人民广场",
            "lat": "31.23",
            "lng": "121.47",
            "starts_at_0": "2027-01-01",
            "starts_at_1": "10:00:00",
            "ends_at_0": "2027-01-01",
            "ends_at_1": "16:00:00",
            "capacity": "100",
            "price_fen": "0",
            "currency": "CNY",
            "members_open_at_0": "2026-12-20",
            "members_open_at_1": "10:00:00",
            "public_open_at_0": "2026-12-22",
            "public_open_at_1": "10:00:00",
            "max_guests": "0",
            "cancel_cutoff_hours": "24",
            "offer_hours": "12",
            "registrations-TOTAL_FORMS": "0",
            "registrations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Event.objects.get(title="新年市集").state == "in_review"
