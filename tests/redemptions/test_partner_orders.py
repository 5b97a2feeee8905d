"""Consumption reported by partner platforms (issue 16): link by consent, report, replay, conflict, refund."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Notification, WebhookEndpoint, WebhookEvent
from members.selectors import member_savings
from merchants.models import Merchant, PartnerGrant
from merchants.selectors import today_used
from redemptions.counter.services import partner_orders
from redemptions.models import AttributionCredit, PartnerLink, PartnerLinkCode, Redemption, RefusedScan
from tests.factories import PartnerApplicationFactory
from tests.factories.attribution import NoteFactory, touch
from tests.factories.core import access_token_for
from tests.factories.redemptions import member_with_card, shop

pytestmark = pytest.mark.django_db

REDIRECT = "https://partner.example/redcard/callback"


def platform(*merchants: Merchant):
    """A partner platform allowed ``consumption:write``, granted it at ``merchants``: (client, app)."""
    app = PartnerApplicationFactory(allowed_scopes="consumption:write", redirect_uris=REDIRECT, name="美味外卖")
    for merchant in merchants:
        PartnerGrant.objects.create(merchant=merchant, application=app, scopes="consumption:write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(app, 'consumption:write').token}")
    return client, app


def card_holder():
    """A member whose card has run for three days (orders paid yesterday are on the card)."""
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        return member_with_card()


def linked(member, app) -> str:
    return partner_orders.partner_link(member=member, application=app)


def order(token, merchant, order_id="A-1", bill=8650, discount=1038, paid_at=None, **extra):
    return {
        "member_token": token,
        "merchant": str(merchant.public_id),
        "order_id": order_id,
        "bill_fen": bill,
        "discount_fen": discount,
        "paid_at": (paid_at or timezone.now() - timedelta(minutes=2)).isoformat(),
        **extra,
    }


def report(client, body, lang="en"):
    return client.post(reverse("api-partner-orders"), body, format="json", HTTP_ACCEPT_LANGUAGE=lang)


# --- Linking -------------------------------------------------------------------------------------------


def consent(client, app, state="xyz"):
    """The signed-in member allows ``app`` on the consent page: the page's answer."""
    url = reverse("redemptions:partner_link", args=[app.client_id]) + f"?redirect_uri={REDIRECT}&state={state}"
    return client.post(url, {"decision": "allow"})


def exchange(api, code, redirect_uri=REDIRECT):
    body = {"code": code, "redirect_uri": redirect_uri}
    return api.post(reverse("api-partner-link-token"), body, format="json")


def test_the_member_consents_and_the_partner_trades_the_code_for_a_token(client):
    member = card_holder()
    api, app = platform()
    client.force_login(member)
    url = reverse("redemptions:partner_link", args=[app.client_id]) + f"?redirect_uri={REDIRECT}&state=xyz"
    page = client.get(url)
    assert page.status_code == 200 and "美味外卖" in page.content.decode()
    # Browsers hold the form's redirect to the partner to form-action: the page allows that origin only.
    assert "form-action 'self' https://partner.example;" in page["Content-Security-Policy"]
    assert not PartnerLink.objects.exists()  # showing the page links nothing
    answer = client.post(url, {"decision": "allow"})
    assert answer.status_code == 302 and answer["Location"].startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["state"] == ["xyz"] and set(query) == {"code", "state"}  # no token in the browser's address bar
    assert "rcm_" not in answer["Location"]
    assert not PartnerLink.objects.exists()  # nothing is linked until the partner's server has the token
    traded = exchange(api, query["code"][0])
    assert traded.status_code == 200, traded.content
    assert traded["Cache-Control"] == "no-store"
    token = traded.json()["member_token"]
    link = PartnerLink.objects.get()
    assert traded.json()["link"] == str(link.public_id)
    assert link.member == member and token not in link.token_hash  # only its hash is kept
    assert partner_orders.linked_member(application=app, token=token) == member
    code_row = PartnerLinkCode.objects.get()
    assert query["code"][0] not in code_row.code_hash and code_row.link == link


def test_a_code_works_once_and_its_replay_ends_the_link_it_made(client):
    member = card_holder()
    api, _app = platform()
    client.force_login(member)
    code = parse_qs(urlsplit(consent(client, _app)["Location"]).query)["code"][0]
    assert exchange(api, code).status_code == 200
    replay = exchange(api, code)
    assert replay.status_code == 400 and replay.json()["code"] == "partner_link_code_invalid"
    assert replay["Content-Type"].startswith("application/problem+json")
    assert not PartnerLink.objects.get().is_live  # whoever replayed it had it too: the link is ended


def test_a_code_is_refused_when_expired_for_another_redirect_or_another_partner(client):
    member = card_holder()
    api, app = platform()
    other, _other_app = platform()
    client.force_login(member)
    codes = [parse_qs(urlsplit(consent(client, app, state=str(i))["Location"]).query)["code"][0] for i in range(3)]
    wrong_redirect = exchange(api, codes[0], redirect_uri="https://partner.example/elsewhere")
    assert wrong_redirect.status_code == 400 and wrong_redirect.json()["code"] == "partner_link_code_invalid"
    assert exchange(other, codes[1]).json()["code"] == "partner_link_code_invalid"  # not the partner it was for
    with time_machine.travel(timezone.now() + partner_orders.CODE_LIFETIME + timedelta(seconds=1)):
        assert exchange(api, codes[2]).json()["code"] == "partner_link_code_invalid"
    for junk in ("", "rcm_looks-like-a-token", "rcc_" + "x" * 200, 42):
        assert exchange(api, junk).status_code == 400
    assert not PartnerLink.objects.exists()


def test_the_code_exchange_needs_the_consumption_scope(client):
    member = card_holder()
    _api, app = platform()
    client.force_login(member)
    code = parse_qs(urlsplit(consent(client, app)["Location"]).query)["code"][0]
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(app, 'redemptions:write').token}")
    assert exchange(stranger, code).status_code == 403
    assert exchange(APIClient(), code).status_code in (401, 403)
    assert not PartnerLink.objects.exists()


def test_a_redirect_uri_not_registered_is_refused_and_nothing_is_linked(client):
    member = card_holder()
    _api, app = platform()
    client.force_login(member)
    url = reverse("redemptions:partner_link", args=[app.client_id]) + "?redirect_uri=https://evil.example/cb&state=x"
    assert client.get(url).status_code == 400
    answer = client.post(url, {"decision": "allow"})
    assert answer.status_code == 400 and not PartnerLink.objects.exists()


def test_declining_links_nothing(client):
    _api, app = platform()
    client.force_login(card_holder())
    url = reverse("redemptions:partner_link", args=[app.client_id]) + f"?redirect_uri={REDIRECT}&state=s"
    answer = client.post(url, {"decision": "deny"})
    assert "error=access_denied" in answer["Location"] and not PartnerLink.objects.exists()


def test_a_partner_without_the_scope_cannot_be_linked(client):
    app = PartnerApplicationFactory(allowed_scopes="redemptions:write", redirect_uris=REDIRECT)
    client.force_login(card_holder())
    url = reverse("redemptions:partner_link", args=[app.client_id]) + f"?redirect_uri={REDIRECT}"
    assert client.get(url).status_code == 404


def test_unlinking_stops_the_token_at_once(client):
    merchant = shop()
    member = card_holder()
    api, app = platform(merchant)
    token = linked(member, app)
    client.force_login(member)
    page = client.get(reverse("redemptions:partners"))
    assert "美味外卖" in page.content.decode()
    link = PartnerLink.objects.get()
    client.post(reverse("redemptions:partner_unlink", args=[link.public_id]))
    assert "美味外卖" not in client.get(reverse("redemptions:partners")).content.decode()
    refused = report(api, order(token, merchant))
    assert refused.status_code == 422 and refused.json()["code"] == "partner_member_unknown"
    assert not Redemption.objects.exists()


def test_another_member_cannot_unlink_my_partner(client):
    member = card_holder()
    _api, app = platform()
    linked(member, app)
    client.force_login(card_holder())
    client.post(reverse("redemptions:partner_unlink", args=[PartnerLink.objects.get().public_id]))
    assert PartnerLink.objects.get().is_live


# --- Reporting -----------------------------------------------------------------------------------------


def test_a_reported_order_counts_exactly_as_an_in_store_visit(local_midday, client, django_capture_on_commit_callbacks):
    """The order, paid a little earlier, counts on the shop's today (run at noon: right after midnight it would
    count on yesterday)."""
    merchant = shop()
    member = card_holder()
    api, app = platform(merchant)
    WebhookEndpoint.objects.create(application=app, url="http://127.0.0.1:9/hooks")
    touch(NoteFactory(tags=[merchant]), member)
    token = linked(member, app)
    with django_capture_on_commit_callbacks(execute=True):
        answer = report(api, order(token, merchant))
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["channel"], body["bill_fen"], body["discount_fen"]) == ("partner_platform", 8650, 1038)
    redemption = Redemption.objects.get()
    assert redemption.partner == app and redemption.staff is None
    assert member_savings(user=member).saved_fen == 1038  # the savings meter
    assert today_used(merchant=merchant, at=timezone.now()) == 1  # the shop's day roll-up (dashboard)
    assert AttributionCredit.objects.filter(redemption=redemption).count() == 3  # the notes' attribution
    assert Notification.objects.filter(user=member, kind="redemptions.confirmed").count() == 1
    assert WebhookEvent.objects.filter(type="redemption.confirmed").count() == 1
    # The member sees which visits came through which partner.
    client.force_login(member)
    assert "美味外卖" in client.get(reverse("redemptions:mine")).content.decode()
    mine = client.get(reverse("api-redemption-mine")).json()
    assert [(r["channel"], r["partner"]) for r in mine["results"]] == [("partner_platform", "美味外卖")]


def test_the_same_order_twice_is_one_redemption_and_another_amount_is_refused_and_flagged():
    merchant = shop(member_daily_limit=5)
    member = card_holder()
    api, app = platform(merchant)
    token = linked(member, app)
    first = report(api, order(token, merchant))
    again = report(api, order(token, merchant))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Redemption.objects.count() == 1
    other = report(api, order(token, merchant, bill=9900, discount=1188), lang="zh-hans")
    assert other.status_code == 409 and other.json()["code"] == "partner_order_conflict"
    assert other["Content-Type"].startswith("application/problem+json")
    assert RefusedScan.objects.filter(reason="partner_order_conflict", partner=app, code_text="A-1").count() == 1
    assert Redemption.objects.count() == 1 and member_savings(user=member).saved_fen == 1038


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"bill_fen": 0, "discount_fen": 0}, "bill_invalid", 422),
        ({"bill_fen": -500, "discount_fen": 0}, "bill_invalid", 422),
        ({"paid_at": "future"}, "partner_paid_at_future", 422),
        ({"paid_at": "old"}, "partner_paid_at_too_old", 422),
        ({"discount_fen": 500}, "partner_discount_short", 422),
        ({"discount_fen": 9000}, "partner_discount_invalid", 422),
        ({"member_token": "rcm_not-a-token"}, "partner_member_unknown", 422),
    ],
)
def test_bad_reports_are_refused_with_their_code(change, code, status):
    merchant = shop()
    api, app = platform(merchant)
    token = linked(card_holder(), app)
    body = order(token, merchant)
    if change.get("paid_at") == "future":
        change = {"paid_at": (timezone.now() + timedelta(hours=1)).isoformat()}
    elif change.get("paid_at") == "old":
        change = {"paid_at": (timezone.now() - timedelta(days=8)).isoformat()}
    answer = report(api, {**body, **change})
    assert answer.status_code == status and answer.json()["code"] == code, answer.content
    assert not Redemption.objects.exists()
    assert RefusedScan.objects.filter(reason=code, channel="partner_platform").exists()


def test_a_shop_that_did_not_grant_the_partner_and_a_removed_shop_are_refused():
    granted, stranger = shop(), shop()
    api, app = platform(granted)
    token = linked(card_holder(), app)
    refused = report(api, order(token, stranger))
    assert refused.status_code == 403 and refused.json()["code"] == "partner_not_granted"
    Merchant.objects.filter(pk=granted.pk).update(state=Merchant.State.REMOVED)
    removed = report(api, order(token, granted, order_id="A-2"))
    assert removed.status_code in (403, 409, 422) and removed.json()["code"] == "merchant_not_active"
    assert not Redemption.objects.exists()


def test_the_member_limit_applies_to_partner_orders():
    merchant = shop()  # one visit per member per day
    api, app = platform(merchant)
    token = linked(card_holder(), app)
    assert report(api, order(token, merchant, order_id="A-1")).status_code == 201
    second = report(api, order(token, merchant, order_id="A-2"))
    assert second.json()["code"] == "member_limit_reached"


def test_a_partner_token_without_the_scope_is_turned_away(partner_client):
    merchant = shop()
    api, _app = partner_client("redemptions:write")
    answer = report(api, order("rcm_x", merchant))
    assert answer.status_code == 403


# --- Refunds -------------------------------------------------------------------------------------------


def test_a_refund_reverses_the_visit_and_is_idempotent(django_capture_on_commit_callbacks):
    merchant = shop()
    member = card_holder()
    api, app = platform(merchant)
    touch(NoteFactory(tags=[merchant]), member)
    token = linked(member, app)
    paid_at = timezone.now() - timedelta(days=2)  # long past the in-store void window
    with django_capture_on_commit_callbacks(execute=True):
        assert report(api, order(token, merchant, paid_at=paid_at)).status_code == 201
    url = reverse("api-partner-order-refund", args=["A-1"])
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(url, {"reason": "customer cancelled"}, format="json")
    again = api.post(url, {}, format="json")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == again.json()["status"] == "voided"
    assert member_savings(user=member).saved_fen == 0
    assert AttributionCredit.objects.filter(redemption__member=member).count() == 0
    assert Redemption.objects.get().void_reason == "customer cancelled"


def test_a_refund_of_an_unknown_order_is_404_problem_json():
    api, _app = platform(shop())
    answer = api.post(reverse("api-partner-order-refund", args=["nope"]), {}, format="json")
    assert answer.status_code == 404 and answer.json()["code"] == "partner_order_unknown"
    assert answer["Content-Type"].startswith("application/problem+json")


def test_another_partners_order_cannot_be_refunded():
    merchant = shop()
    api, app = platform(merchant)
    assert report(api, order(linked(card_holder(), app), merchant)).status_code == 201
    other, _ = platform(merchant)
    answer = other.post(reverse("api-partner-order-refund", args=["A-1"]), {}, format="json")
    assert answer.status_code == 404 and Redemption.objects.get().status == "confirmed"


@pytest.mark.django_db(transaction=True)
def test_the_same_order_from_ten_threads_at_once_is_one_redemption():
    merchant = shop(member_daily_limit=5)
    member = card_holder()
    _api, app = platform(merchant)
    token = linked(member, app)
    paid_at = timezone.now() - timedelta(minutes=1)
    results, errors, barrier = [], [], threading.Barrier(10)

    def send():
        try:
            barrier.wait()
            results.append(
                partner_orders.partner_order_report(
                    application=app,
                    merchant=merchant,
                    member_token=token,
                    order_id="T-1",
                    bill=8650,
                    discount=1038,
                    paid_at=paid_at,
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Redemption.objects.count() == 1
    assert sum(created for _r, created in results) == 1
    assert {r.pk for r, _c in results} == {Redemption.objects.get().pk}
    assert member_savings(user=member).saved_fen == 1038


def test_an_order_id_with_a_slash_is_refunded_and_the_console_lists_links_and_conflicts(admin_client):
    merchant = shop()
    api, app = platform(merchant)
    member = card_holder()
    assert report(api, order(linked(member, app), merchant, order_id="2026/12/A-9")).status_code == 201
    answer = api.post(reverse("api-partner-order-refund", args=["2026/12/A-9"]), {}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "voided"
    page = admin_client.get(reverse("admin:redemptions_partnerlink_changelist"))
    assert page.status_code == 200 and page.context_data["cl"].result_count == 1
    assert admin_client.get(reverse("admin:redemptions_refusedscan_changelist")).status_code == 200


def test_the_console_finds_a_partner_order_by_the_partners_order_id_and_by_member(admin_client):
    merchant = shop(member_daily_limit=5)
    api, app = platform(merchant)
    member, other = card_holder(), card_holder()
    member.phone = "13800138000"
    member.save(update_fields=["phone"])
    assert report(api, order(linked(member, app), merchant, order_id="MT-20261203-0042")).status_code == 201
    assert report(api, order(linked(other, app), merchant, order_id="MT-20261203-0077")).status_code == 201
    assert Redemption.objects.get(member=member).partner_order_id == "MT-20261203-0042"  # kept as reported

    def found(term):
        page = admin_client.get(reverse("admin:redemptions_redemption_changelist"), {"q": term})
        assert page.status_code == 200
        return {r.member_id for r in page.context_data["cl"].result_list}

    assert found("MT-20261203-0042") == {member.pk}  # the raw id, not only its hash in code_id
    assert found("MT-20261203") == {member.pk, other.pk}
    assert found(member.email) == {member.pk}
    assert found("13800138000") == {member.pk}
    assert found("no-such-order") == set()


def test_linking_again_replaces_the_old_token():
    _api, app = platform()
    member = card_holder()
    old = linked(member, app)
    new = linked(member, app)
    assert partner_orders.linked_member(application=app, token=old) is None
    assert partner_orders.linked_member(application=app, token=new) == member
    assert PartnerLink.objects.filter(unlinked_at__isnull=True).count() == 1


def test_a_token_given_to_one_partner_does_not_work_for_another():
    merchant = shop()
    _api, first = platform(merchant)
    other, _second = platform(merchant)
    token = linked(card_holder(), first)
    answer = report(other, order(token, merchant))
    assert answer.status_code == 422 and answer.json()["code"] == "partner_member_unknown"
    assert not Redemption.objects.exists()
