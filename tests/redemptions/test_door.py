"""The scanner's event mode: the member's rotating card code (or a registration QR) checks a person
in at the door through the counter's code verification; green with the number of people, red with a
plain reason; the same code at two doors checks in once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from members.events import services as event_services
from members.models import EventCheckIn
from redemptions.counter import door
from redemptions.counter.services import Counter
from redemptions.models import RefusedScan
from tests.factories import MerchantStaffFactory, UserFactory
from tests.factories.events import EventFactory
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of
from tests.threads import together


def event_at_shop(**fields):
    merchant = shop()
    event = EventFactory(venue=merchant, organiser=merchant, **fields)
    return event, staff_of(merchant)


def scan(event, text, staff, at):
    return door.event_door_scan(event=event, text=text, counter=Counter(staff=staff), at=at)


@pytest.mark.clock
@pytest.mark.django_db
def test_the_member_code_checks_in_green_with_the_number_of_people():
    event, staff = event_at_shop(max_guests=1)
    person = member_with_card()
    event_services.registration_create(event=event, user=person, guests=1)
    at = event.starts_at + timedelta(minutes=1)
    result = scan(event, code_of(person, at=at).qr, staff, at)
    assert (result.places, result.member_masked) == (2, person.masked_name)
    assert result.checkin.method == EventCheckIn.Method.MEMBER_CODE
    # The typed fallback of a later code is the same person: already checked in, in plain words.
    with pytest.raises(DomainError) as info:
        scan(event, code_of(person, at=at + timedelta(seconds=40)).numeric, staff, at + timedelta(seconds=40))
    assert info.value.code == "event_already_checked_in"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("not_registered", "event_not_registered"),
        ("waitlisted", "event_on_waitlist"),
        ("other_day", "event_not_today"),
    ],
)
def test_the_door_refuses_with_a_plain_reason_and_keeps_the_refusal(setup, code):
    event, staff = event_at_shop(capacity=1)
    person = member_with_card()
    if setup == "waitlisted":
        event_services.registration_create(event=event, user=member_with_card())
        event_services.registration_create(event=event, user=person)
    elif setup == "other_day":
        event_services.registration_create(event=event, user=person)
    at = event.starts_at + (timedelta(days=-1) if setup == "other_day" else timedelta(minutes=1))
    with pytest.raises(DomainError) as info:
        scan(event, code_of(person, at=at).qr, staff, at)
    assert info.value.code == code
    assert RefusedScan.objects.get().reason == code


@pytest.mark.django_db
def test_a_forged_or_expired_code_is_refused_like_at_the_counter():
    event, staff = event_at_shop()
    person = member_with_card()
    event_services.registration_create(event=event, user=person)
    at = event.starts_at + timedelta(minutes=1)
    with pytest.raises(DomainError) as info:
        scan(event, code_of(person, at=at - timedelta(minutes=5)).qr, staff, at)
    assert info.value.code == "code_expired"
    with pytest.raises(DomainError) as info:
        scan(event, "RC" + "A" * 60, staff, at)
    assert info.value.code == "code_invalid"


@pytest.mark.django_db
def test_only_the_events_door_staff_may_scan():
    event, _ = event_at_shop()
    person = member_with_card()
    event_services.registration_create(event=event, user=person)
    at = event.starts_at + timedelta(minutes=1)
    with pytest.raises(DomainError) as info:
        scan(event, code_of(person, at=at).qr, MerchantStaffFactory().user, at)
    assert info.value.code == "event_door_not_authorized"


@pytest.mark.django_db
def test_a_person_without_a_card_checks_in_with_the_registration_qr():
    now = timezone.now()
    event, staff = event_at_shop(members_open_at=now - timedelta(hours=2), public_open_at=now - timedelta(hours=1))
    person = UserFactory()
    registration = event_services.registration_create(event=event, user=person)
    result = scan(event, event_services.ticket_text(registration=registration), staff, event.starts_at)
    assert result.checkin.method == EventCheckIn.Method.REGISTRATION_QR


@pytest.mark.clock
@pytest.mark.django_db
def test_the_door_page_shows_green_and_red_without_javascript(client):
    event, staff = live_event_at_shop()
    person, stranger = member_with_card(), member_with_card()
    event_services.registration_create(event=event, user=person, at=earlier())
    client.force_login(staff)
    assert client.get(reverse("redemptions:door_pick")).status_code == 302  # the only event: straight there
    url = reverse("redemptions:door", args=[event.public_id])
    page = client.post(url, {"code": code_of(person).qr}).content.decode()
    assert "rc-result rc-ok" in page and "已签到 · 1 位" in page
    page = client.post(url, {"code": code_of(stranger).qr}).content.decode()
    assert "rc-result rc-refused" in page and "未报名该活动" in page
    client.force_login(MerchantStaffFactory().user)
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_check_in_api_for_staff_and_organisers_tools(api_client, partner_client):
    from merchants.models import PartnerGrant

    event, staff = live_event_at_shop()
    person = member_with_card()
    event_services.registration_create(event=event, user=person, at=earlier())
    url = reverse("api-event-checkin", args=[event.public_id])
    client, app = partner_client("events:write")
    refused = client.post(url, {"code": code_of(person).qr}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "event_door_not_authorized"
    PartnerGrant.objects.create(application=app, merchant=event.venue, scopes="events:write")
    done = client.post(url, {"code": code_of(person).qr}, format="json")
    assert done.status_code == 201, done.json()
    assert done.json()["places"] == 1
    api_client.force_login(staff)
    again = api_client.post(url, {"code": code_of(person).qr}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "event_already_checked_in"
    attendance = client.get(reverse("api-event-attendance", args=[event.public_id]))
    assert attendance.status_code == 200
    assert attendance.json()["counts"]["checked_in"] == 1


def live_event_at_shop():
    """An event under way (started a minute ago, ends in two hours): the door is open whatever the hour,
    Shanghai midnight included. Register with ``at=EARLIER``."""
    now = timezone.now()
    return event_at_shop(
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        members_open_at=now - timedelta(hours=3),
        public_open_at=now - timedelta(hours=3),
    )


def earlier():
    return timezone.now() - timedelta(hours=2)


@pytest.mark.django_db(transaction=True)
def test_the_same_code_at_two_doors_checks_in_once():
    event, staff = event_at_shop()
    second_door = staff_of(event.venue)
    person = member_with_card()
    event_services.registration_create(event=event, user=person)
    at = event.starts_at + timedelta(minutes=2)
    text = code_of(person, at=at).qr
    outcomes = together([lambda who=who: scan(event, text, who, at).places for who in (staff, second_door)])
    assert sorted(outcomes, key=str) == [1, "event_already_checked_in"]
    assert EventCheckIn.objects.count() == 1
