"""Member events as people meet them: the list with the countdown, an event's page, registering,
the waitlist, an offered place, the organiser's list and its export, home and the shop's page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from members.events import services
from members.models import EventRegistration
from tests.factories import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.events import EventFactory, member

pytestmark = pytest.mark.django_db
State = EventRegistration.State


@pytest.mark.clock
def test_the_list_shows_local_times_and_the_countdown_to_the_window_that_concerns_the_person(client):
    opens = timezone.now() + timedelta(hours=30)
    event = EventFactory(members_open_at=opens, public_open_at=opens + timedelta(hours=24))
    page = client.get(reverse("members:events")).content.decode()
    assert event.title in page
    assert f'data-countdown="{(opens + timedelta(hours=24)).isoformat()}' in page  # the public's window
    local = event.starts_at.astimezone(services.event_zone(event)).strftime("%Y-%m-%d %H:%M")
    assert local in page
    client.force_login(member())
    page = client.get(reverse("members:events")).content.decode()
    assert f'data-countdown="{opens.isoformat()}' in page  # a member's earlier window
    assert "会员优先报名" in page


def test_a_member_registers_from_the_page_the_public_waits_for_its_window_and_a_late_member_waits_in_line(client):
    event = EventFactory(capacity=1, public_open_at=timezone.now() + timedelta(hours=1))
    client.force_login(member())
    response = client.post(reverse("members:event_register", args=[event.public_id]), follow=True)
    page = response.content.decode()
    assert "已报名" in page
    assert 'class="event-ticket"><svg' in page  # the registration QR for the door
    stranger = UserFactory()
    client.force_login(stranger)
    page = client.post(reverse("members:event_register", args=[event.public_id]), follow=True).content.decode()
    assert "开放" in page  # refused: the public's window is not open yet (plain message)
    assert not EventRegistration.objects.filter(user=stranger).exists()
    later = member()  # a member still in the priority window, after the last place went
    client.force_login(later)
    page = client.post(reverse("members:event_register", args=[event.public_id]), follow=True).content.decode()
    assert EventRegistration.objects.get(user=later).state == State.WAITLISTED
    assert "候补" in page


def test_a_cancellation_promotes_the_next_who_confirms_on_the_page(client):
    event = EventFactory(capacity=1)
    first, second = member(), member()
    services.registration_create(event=event, user=first)
    waiting = services.registration_create(event=event, user=second)
    client.force_login(first)
    client.post(reverse("members:event_cancel", args=[event.public_id]))
    client.force_login(second)
    page = client.get(reverse("members:event", args=[event.public_id])).content.decode()
    assert reverse("members:event_confirm", args=[event.public_id]) in page
    client.post(reverse("members:event_confirm", args=[event.public_id]))
    waiting.refresh_from_db()
    assert waiting.state == State.REGISTERED
    mine = client.get(reverse("members:events_mine")).content.decode()
    assert event.title in mine


def test_a_member_gives_the_guests_place_back_on_the_page_and_the_next_in_line_is_offered_it(client):
    event = EventFactory(capacity=2, max_guests=1)
    person, waiting = member(), member()
    services.registration_create(event=event, user=person, guests=1)
    later = services.registration_create(event=event, user=waiting)
    client.force_login(person)
    give_back = reverse("members:event_give_back", args=[event.public_id])
    assert give_back in client.get(reverse("members:event", args=[event.public_id])).content.decode()
    page = client.post(give_back, follow=True).content.decode()
    assert "同行者的名额已退回" in page and give_back not in page  # one place left: nothing more to give back
    assert EventRegistration.objects.get(user=person).places == 1
    later.refresh_from_db()
    assert later.state == State.OFFERED


@pytest.mark.clock
def test_the_organiser_sees_counts_and_the_list_and_exports_it(client):
    shop = MerchantFactory()
    event = EventFactory(venue=shop, organiser=shop, capacity=1)
    came, waiting = member(display_name="张三"), member()
    services.registration_create(event=event, user=came)
    services.registration_create(event=event, user=waiting)
    services.event_checkin(event=event, user=came, method="list", by="door", at=event.starts_at + timedelta(minutes=3))
    url = reverse("members:event_attendance", args=[event.public_id])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(MerchantStaffFactory(merchant=shop).user)
    page = client.get(url).content.decode()
    assert "张*" in page or came.masked_name in page
    export = client.get(url + "?format=csv")
    assert export["Content-Type"].startswith("text/csv")
    text = export.content.decode("utf-8-sig")
    assert came.email in text and waiting.email in text
    checked_in_local = (event.starts_at + timedelta(minutes=3)).astimezone(services.event_zone(event))
    assert checked_in_local.strftime("%Y-%m-%d %H:%M") in text


def test_home_and_the_shops_page_list_upcoming_events(client):
    shop = MerchantFactory()
    event = EventFactory(venue=shop)
    assert event.title in client.get("/").content.decode()
    page = client.get(reverse("merchants:merchant", args=[shop.public_id])).content.decode()
    assert event.title in page
    other = MerchantFactory()
    assert event.title not in client.get(reverse("merchants:merchant", args=[other.public_id])).content.decode()


def test_nearest_first_sorts_by_distance():
    from members.events import selectors

    far = EventFactory(lat=31.40, lng=121.70)
    close = EventFactory(lat=31.231, lng=121.474)
    rows = selectors.near(selectors.upcoming_events(), lat=31.2304, lng=121.4737)
    assert [e.pk for e in rows] == [close.pk, far.pk]
    assert rows[0].distance_km < 1 < rows[1].distance_km


def test_an_unknown_or_unpublished_event_is_404(client):
    draft = EventFactory(state="in_review")
    assert client.get(reverse("members:event", args=[draft.public_id])).status_code == 404


def test_a_shop_owner_proposes_an_event_in_local_time_and_a_curator_publishes_it(client):
    from merchants.models import MerchantStaff

    shop = MerchantFactory()
    owner = MerchantStaffFactory(merchant=shop, role=MerchantStaff.Role.OWNER).user
    client.force_login(MerchantStaffFactory(merchant=shop).user)  # staff, not owner
    assert client.get(reverse("members:events_propose", args=[shop.public_id])).status_code == 404
    client.force_login(owner)
    url = reverse("members:events_propose", args=[shop.public_id])
    bad = client.post(
        url,
        {
            "title": "拉花课",
            "starts": "2027-01-10T19:00",
            "ends": "2027-01-10T18:00",
            "capacity": "10",
            "members_open": "2027-01-01T10:00",
            "priority_hours": "48",
            "price_yuan": "0",
            "cancel_cutoff_hours": "24",
        },
    )
    assert bad.status_code == 200 and "结束时间必须晚于开始时间" in bad.content.decode()
    response = client.post(
        url,
        {
            "title": "拉花课",
            "starts": "2027-01-10T19:00",
            "ends": "2027-01-10T21:00",
            "capacity": "10",
            "members_open": "2027-01-01T10:00",
            "priority_hours": "48",
            "price_yuan": "88",
            "member_price_yuan": "68",
            "guest": "on",
            "cancel_cutoff_hours": "24",
        },
    )
    assert response.status_code == 302
    event = EventRegistration._meta.apps.get_model("members", "Event").objects.get(title="拉花课")
    assert event.state == "in_review" and event.organiser == shop and event.venue == shop
    zone = services.event_zone(event)
    assert event.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") == "2027-01-10 19:00"  # Shanghai time
    assert (event.public_open_at - event.members_open_at) == timedelta(hours=48)
    assert (event.price_fen, event.member_price_fen, event.max_guests) == (8800, 6800, 1)
    page = client.get(reverse("members:events_organise")).content.decode()
    assert "拉花课" in page and "审核中" in page
    assert event.title not in client.get(reverse("members:events")).content.decode()  # not before review
    services.event_review(event=event, approve=True, actor="curator")
    assert event.title in client.get(reverse("members:events")).content.decode()
