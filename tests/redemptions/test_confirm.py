"""prepare / confirm / void: the rules, the arithmetic, the refusals and what each leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry
from members.models import Subscription
from merchants.models import Merchant, MerchantDay, Offer
from merchants.selectors import local_date
from redemptions.counter import codes, services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter
from redemptions.models import Channel, MemberDay, Redemption, RedemptionOutbox, RefusedScan
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = pytest.mark.django_db


def refusal(fn, **kwargs) -> str:
    with pytest.raises(DomainError) as excinfo:
        fn(**kwargs)
    return excinfo.value.code


def confirm(merchant, counter, member, bill=8650, **kwargs):
    kwargs.setdefault("code", code_of(member).qr)
    return services.redemption_confirm(merchant=merchant, counter=counter, bill=bill, **kwargs)


def test_confirm_writes_the_redemption_and_feeds_every_counter(
    merchant, counter, member, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        redemption = confirm(merchant, counter, member, bill=8650)
    assert (redemption.bill_fen, redemption.discount_fen, redemption.charge_fen) == (8650, 1038, 7612)
    assert redemption.channel == Channel.STAFF_SCAN and redemption.staff == staff and redemption.member == member
    assert redemption.local_date == timezone.now().astimezone(timezone.get_fixed_timezone(480)).date()
    assert Subscription.objects.get(user=member).savings_fen == 1038
    assert MemberDay.objects.get(member=member, merchant=merchant).count == 1
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 1
    assert AuditEntry.objects.filter(action="redemptions.redemption_confirm", object_id=str(redemption.pk)).exists()
    assert member.notifications.filter(kind="redemptions.confirmed").exists()  # written with the redemption


@pytest.mark.django_db(transaction=True)
def test_confirm_uses_a_fixed_number_of_queries(merchant, counter, member, django_assert_num_queries, tasks_to_worker):
    """Outside any caller's transaction (as in a request), with the content type cache warm and the
    outbox handed to the worker (production): staff membership, BEGIN, the shop's state and offer terms
    under a shared lock, the member of the code with their entitlement under a row lock, one statement of
    every write (redemption, member limit, capacity, savings, audit, outbox), COMMIT = 6. Attribution,
    the webhook and the notice are the worker's."""
    code = code_of(member).qr
    ContentType.objects.get_for_model(Redemption)
    with django_assert_num_queries(6):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code)
    assert RedemptionOutbox.objects.get(redemption=redemption).done_at is None  # queued for the worker


#: The statements of one confirm request, everything included (issue 17: at most 8).
CONFIRM_REQUEST_BUDGET = 8


def _confirm_request_statements(client, merchant, member) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 8650}
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/redemptions/confirm/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["discount_fen"] == 1038
    return [" ".join(q["sql"].split())[:60] for q in queries.captured_queries]


def _kinds(statements: list[str]) -> list[str]:
    return [s.split()[0] for s in statements]


@pytest.mark.django_db(transaction=True)
def test_a_partner_confirm_request_costs_at_most_eight_statements(merchant, partner_client, tasks_to_worker):
    """The partner POS fast path (one request, OAuth bearer token, the code): the token with its
    application, the shop with the partner's grant, BEGIN, the shop's terms under a shared lock, the member
    with their entitlement under a row lock, every write in one statement, COMMIT."""
    from merchants.models import PartnerGrant

    client, app = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    ContentType.objects.get_for_model(Redemption)
    statements = _confirm_request_statements(client, merchant, member_with_card())
    assert len(statements) <= CONFIRM_REQUEST_BUDGET, statements
    assert _kinds(statements) == ["SELECT", "SELECT", "BEGIN", "SELECT", "SELECT", "WITH", "COMMIT"], statements
    assert Redemption.objects.get().channel == Channel.PARTNER_POS


@pytest.mark.django_db(transaction=True)
def test_a_staff_scanner_confirm_request_costs_at_most_eight_statements(merchant, staff, member, tasks_to_worker):
    """The scanner's confirm by code (session): the session, the staff member, the shop with their role
    there, BEGIN, the terms, the member and entitlement, the writes, COMMIT."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff)
    ContentType.objects.get_for_model(Redemption)
    statements = _confirm_request_statements(client, merchant, member)
    assert len(statements) <= CONFIRM_REQUEST_BUDGET, statements
    assert _kinds(statements) == ["SELECT"] * 3 + ["BEGIN", "SELECT", "SELECT", "WITH", "COMMIT"], statements
    redemption = Redemption.objects.get()
    assert (redemption.channel, redemption.staff) == (Channel.STAFF_SCAN, staff)
    assert MemberDay.objects.get(member=member).count == 1 and MerchantDay.objects.get().redemptions_count == 1
    assert Subscription.objects.get(user=member).savings_fen == 1038
    assert AuditEntry.objects.get(action="redemptions.redemption_confirm").object_id == str(redemption.pk)


@pytest.mark.django_db(transaction=True)
def test_a_typed_code_confirmed_with_its_prepare_token_costs_at_most_eight_statements(
    merchant, staff, member, tasks_to_worker
):
    """The scanner's typed fallback: prepare looks the typed code up (and guards against guessing), the
    confirm with its token asks nothing more than a scanned code's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff)
    ContentType.objects.get_for_model(Redemption)
    shop = str(merchant.public_id)
    prepared = client.post("/api/v1/redemptions/prepare/", {"merchant": shop, "code": code_of(member).numeric})
    assert prepared.status_code == 200, prepared.content
    body = {"merchant": shop, "token": prepared.json()["token"], "bill_fen": 8650}
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/redemptions/confirm/", body, format="json")
    assert response.status_code == 201, response.content
    assert len(queries.captured_queries) <= CONFIRM_REQUEST_BUDGET
    assert Redemption.objects.get().channel == Channel.STAFF_TYPED


def test_typed_code_confirms_like_the_qr_code(merchant, counter, member):
    redemption = confirm(merchant, counter, member, code=code_of(member).numeric)
    assert redemption.channel == Channel.STAFF_TYPED


def test_used_code_is_refused_even_typed(merchant, counter, member):
    code = code_of(member)
    Merchant.objects.filter(pk=merchant.pk).update(member_daily_limit=5)
    merchant.refresh_from_db()
    confirm(merchant, counter, member, code=code.qr)
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, code=code.qr) == "code_already_used"
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, code=code.numeric) == "code_already_used"
    assert Redemption.objects.count() == 1


@pytest.mark.parametrize(
    ("rate_bp", "cap_fen", "bill", "discount"),
    [
        (1000, None, 1, 1),  # 0.1 fen rounds up to 1 fen: never against the member
        (1000, None, 15, 2),  # 1.5 -> 2
        (1200, None, 8650, 1038),
        (1250, None, 999, 125),  # 124.875 -> 125
        (2000, 500, 10000, 500),  # the cap
    ],
)
def test_discount_rounds_up_to_the_fen_and_respects_the_cap(rate_bp, cap_fen, bill, discount):
    assert services.discount_for(bill_fen=bill, rate_bp=rate_bp, cap_fen=cap_fen) == discount


@pytest.mark.parametrize("bill", [0, -100, "abc", "12.5", 12.5, "８６", "86 ", True, None, 10_000_001, 10**30, ""])
def test_bad_bill_is_refused_and_writes_nothing(merchant, counter, member, bill):
    if bill == "86 ":  # surrounding spaces are forgiven
        confirm(merchant, counter, member, bill=bill)
        return
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, bill=bill) == "bill_invalid"
    assert not Redemption.objects.exists()
    assert RefusedScan.objects.filter(reason="bill_invalid").count() == 1


@pytest.mark.parametrize(
    ("text", "fen"), [("86", 8600), ("86.5", 8650), ("86.50", 8650), ("0.01", 1), ("999999.99", 99999999)]
)
def test_keypad_yuan_amounts_parse_to_fen(text, fen):
    if fen > services.MAX_BILL_FEN:
        with pytest.raises(DomainError):
            services.parse_bill_yuan(text)
    else:
        assert services.parse_bill_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "0", "0.00", "-1", "1.234", "８６", "1e3", "1,000", ".5"])
def test_bad_keypad_amounts_are_refused(text):
    with pytest.raises(DomainError) as excinfo:
        services.parse_bill_yuan(text)
    assert excinfo.value.code == "bill_invalid"


def test_bill_below_the_minimum_is_refused(merchant, counter, member):
    Offer.objects.filter(merchant=merchant).update(min_bill_fen=5000)
    merchant = merchant_by_public_id(public_id=merchant.public_id)
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, bill=4999) == "bill_below_minimum"
    assert confirm(merchant, counter, member, bill=5000).bill_fen == 5000


def test_expired_code_is_refused(merchant, counter, member):
    old = code_of(member, at=timezone.now() - timedelta(seconds=95))
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, code=old.qr) == "code_expired"
    assert refusal(confirm, merchant=merchant, counter=counter, member=member, code=old.numeric) == "code_expired"


def test_forged_tampered_and_foreign_codes_are_invalid(merchant, counter, member, settings):
    import base64
    import json
    import secrets

    good = code_of(member).qr
    raw = bytearray(codes._unb32(good[2:]))
    raw[-1] ^= 0x40
    tampered = "RC" + codes._b32(bytes(raw))
    settings.REDCARD_CODE_KEYS = json.dumps({"zz": base64.b64encode(secrets.token_bytes(32)).decode()})
    settings.REDCARD_CODE_KEY_ID = "zz"
    foreign = code_of(member).qr
    del settings.REDCARD_CODE_KEYS, settings.REDCARD_CODE_KEY_ID
    for text in (tampered, foreign, "RC" + "A" * 140, "hello"):
        assert refusal(confirm, merchant=merchant, counter=counter, member=member, code=text) == "code_invalid"
    assert not Redemption.objects.exists()


def test_code_of_a_member_whose_card_ended_a_second_ago_is_refused(merchant, counter, member):
    now = timezone.now()
    Subscription.objects.filter(user=member).update(
        period_start=now - timedelta(days=90), period_end=now - timedelta(seconds=1)
    )
    assert refusal(confirm, merchant=merchant, counter=counter, member=member) == "membership_inactive"
    assert not Redemption.objects.exists()


def test_staff_of_another_shop_is_refused(merchant, member):
    other = staff_of(shop())
    refused = refusal(confirm, merchant=merchant, counter=Counter(staff=other), member=member)
    assert refused == "staff_not_authorized"
    assert RefusedScan.objects.get().staff == other


@pytest.mark.parametrize(("state", "code"), [("removed", "merchant_not_active"), ("suspended", "merchant_not_active")])
def test_shop_that_may_not_redeem_is_refused(merchant, counter, member, state, code):
    Merchant.objects.filter(pk=merchant.pk).update(state=state)
    merchant.refresh_from_db()
    assert refusal(confirm, merchant=merchant, counter=counter, member=member) == code


@pytest.mark.clock
def test_shop_paused_for_today_is_refused(merchant, counter, member):
    today = local_date(merchant=merchant, at=timezone.now())
    Merchant.objects.filter(pk=merchant.pk).update(paused_on=today)
    merchant.refresh_from_db()
    assert refusal(confirm, merchant=merchant, counter=counter, member=member) == "merchant_paused"


@pytest.mark.clock
def test_one_redemption_per_member_per_shop_per_day(merchant, counter, member):
    # 12:00 and 12:00:31 in Shanghai: one local day whatever the hour the suite runs at (31 s after 15:59:59
    # UTC would be the next day there, where a second visit is allowed).
    noon = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    later = noon + timedelta(seconds=31)
    Subscription.objects.filter(user=member).update(period_start=noon - timedelta(days=1))
    confirm(merchant, counter, member, code=code_of(member, at=noon).qr, at=noon)
    second = code_of(member, at=later).qr  # a fresh code from the next window
    assert (
        refusal(confirm, merchant=merchant, counter=counter, member=member, code=second, at=later)
        == "member_limit_reached"
    )


@pytest.mark.clock
def test_local_day_boundary_is_the_shops_midnight(merchant, counter, member):
    # 23:59 and 00:01 Shanghai time (UTC+8) are two local days: both redemptions go through.
    before = datetime(2026, 11, 20, 15, 59, tzinfo=UTC)
    after = datetime(2026, 11, 20, 16, 1, tzinfo=UTC)
    Subscription.objects.filter(user=member).update(period_start=before - timedelta(days=1))
    first = confirm(merchant, counter, member, code=code_of(member, at=before).qr, at=before)
    second = confirm(merchant, counter, member, code=code_of(member, at=after).qr, at=after)
    assert (str(first.local_date), str(second.local_date)) == ("2026-11-20", "2026-11-21")


def test_capacity_is_a_hard_stop(counter, staff, merchant):
    Merchant.objects.filter(pk=merchant.pk).update(daily_capacity=2)
    merchant.refresh_from_db()
    members = [member_with_card() for _ in range(3)]
    confirm(merchant, counter, members[0])
    confirm(merchant, counter, members[1])
    assert refusal(confirm, merchant=merchant, counter=counter, member=members[2]) == "merchant_at_capacity"
    assert Redemption.objects.count() == 2
    assert not MemberDay.objects.filter(member=members[2]).exclude(count=0).exists()
    assert Subscription.objects.get(user=members[2]).savings_fen == 0


def test_prepare_tells_who_and_what_and_confirm_accepts_its_token(merchant, counter, member):
    prepared = services.redemption_prepare(code=code_of(member).qr, merchant=merchant, counter=counter)
    assert prepared.member_masked == member.masked_name
    assert (prepared.rate_bp, prepared.capacity_remaining, prepared.member_limit_remaining) == (1200, 50, 1)
    # The code rotates away while the bill is typed; the token still confirms within the hold.
    later = timezone.now() + timedelta(seconds=100)
    redemption = services.redemption_confirm(
        merchant=merchant, counter=counter, bill=2000, token=prepared.token, at=later
    )
    assert redemption.discount_fen == 240


def test_prepare_token_of_another_counter_or_too_old_is_refused(merchant, counter, member):
    prepared = services.redemption_prepare(code=code_of(member).qr, merchant=merchant, counter=counter)
    other = Counter(staff=staff_of(merchant))
    kwargs = {"merchant": merchant, "bill": 2000, "token": prepared.token}
    assert refusal(services.redemption_confirm, counter=other, **kwargs) == "prepare_expired"
    tampered = prepared.token[:-2] + ("AA" if prepared.token[-2:] != "AA" else "BB")
    assert refusal(services.redemption_confirm, counter=counter, **{**kwargs, "token": tampered}) == "prepare_expired"


def test_prepare_refuses_a_used_code_and_records_it(merchant, counter, member):
    code = code_of(member).qr
    confirm(merchant, counter, member, code=code)
    assert refusal(services.redemption_prepare, code=code, merchant=merchant, counter=counter) == "code_already_used"
    scan = RefusedScan.objects.get(reason="code_already_used")
    assert (scan.step, scan.member, scan.code_text) == ("prepare", member, code)


def test_wrong_typed_codes_lock_typing_for_a_while(merchant, counter, member):
    for n in range(services.TYPED_ATTEMPT_LIMIT):
        with pytest.raises(DomainError):
            services.redemption_prepare(code=f"{1000 + n}0123456", merchant=merchant, counter=counter)
    good = code_of(member).numeric
    assert (
        refusal(services.redemption_prepare, code=good, merchant=merchant, counter=counter) == "code_attempts_exceeded"
    )
    # The QR code still works.
    services.redemption_prepare(code=code_of(member).qr, merchant=merchant, counter=counter)


def test_void_gives_back_limit_capacity_and_savings(merchant, counter, member, staff):
    redemption = confirm(merchant, counter, member)
    services.redemption_void(redemption=redemption, actor=staff, reason="wrong amount")
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.VOIDED and redemption.void_reason == "wrong amount"
    assert MemberDay.objects.get(member=member).count == 0
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 0
    assert Subscription.objects.get(user=member).savings_fen == 0
    assert AuditEntry.objects.filter(action="redemptions.redemption_void", reason="wrong amount").exists()
    # The limit is free again (with a fresh code); the old code stays used.
    later = timezone.now() + timedelta(seconds=31)
    assert confirm(merchant, counter, member, code=code_of(member, at=later).qr, at=later).status == "confirmed"


def test_void_twice_and_after_the_window_are_refused(merchant, counter, member, staff):
    redemption = confirm(merchant, counter, member)
    late = timezone.now() + timedelta(hours=1, seconds=1)
    assert refusal(services.redemption_void, redemption=redemption, actor=staff, reason="x", at=late) == (
        "void_window_passed"
    )
    services.redemption_void(redemption=redemption, actor=staff, reason="x")
    assert refusal(services.redemption_void, redemption=redemption, actor=staff, reason="x") == "already_voided"
    assert refusal(services.redemption_void, redemption=redemption, actor=staff, reason=" ") == "validation_failed"


@pytest.mark.django_db(transaction=True)
def test_the_confirm_s_statements_are_prepared_once_per_connection(merchant, partner_client, tasks_to_worker):
    """``core.sql.hot_cursor``: the five statements a confirm writes out once per process are parsed and planned by
    PostgreSQL once per connection, then only executed (the second confirm prepares nothing new)."""
    from django.db import connection

    from merchants.models import PartnerGrant

    client, app = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")

    def prepared() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
            return {" ".join(sql.split())[:40]: runs for sql, runs in cursor.fetchall()}

    _confirm_request_statements(client, merchant, member_with_card())
    first = prepared()
    assert len(first) == 5 and any(sql.startswith("WITH r AS (INSERT INTO") for sql in first), first
    statements = _confirm_request_statements(client, merchant, member_with_card())
    assert len(statements) == 7  # still counted, one by one, by Django's query log
    again = prepared()
    assert again.keys() == first.keys() and all(again[sql] == first[sql] + 1 for sql in first), (first, again)


@pytest.mark.django_db(transaction=True)
def test_without_prepared_statements_the_confirm_prepares_nothing(
    merchant, partner_client, tasks_to_worker, monkeypatch
):
    """``DATABASE_PREPARED_STATEMENTS=false`` leaves the connection without a threshold (Django's default):
    ``hot_cursor`` is then the ordinary cursor."""
    from django.db import connection

    from merchants.models import PartnerGrant

    client, app = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {})
    connection.close()
    ContentType.objects.get_for_model(Redemption)  # cached, as in a running server
    statements = _confirm_request_statements(client, merchant, member_with_card())
    assert len(statements) == 7
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_a_connection_a_database_restart_killed_is_replaced_before_the_hot_statements(
    merchant, partner_client, tasks_to_worker, monkeypatch
):
    """``hot_cursor`` runs Django's health check as ``connection.cursor()`` does: the first request after a
    PostgreSQL restart reconnects instead of answering 503 (the multinode system test restarts it under load)."""
    import psycopg
    from django.db import connection

    from merchants.models import PartnerGrant

    client, app = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    body = {"merchant": str(merchant.public_id), "code": code_of(member_with_card()).qr, "bill_fen": 8650}
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    connection.ensure_connection()
    assert connection.health_check_enabled
    killed = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"), dbname=params["dbname"]
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [killed])  # waits until it has gone
    connection.health_check_done = False  # what the start of a request does (close_old_connections)
    response = client.post("/api/v1/redemptions/confirm/", body, format="json")  # its first statement: hot_cursor
    assert response.status_code == 201, response.content  # reconnected, not 503
    assert connection.connection.info.backend_pid != killed
