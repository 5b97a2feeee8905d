"""Benchmark: the daily removal-rule evaluation over 100,000 merchants and 10 million redemptions, and the
operations overview on that data (PostgreSQL).

    .venv/bin/python bench/standing/run.py [--merchants 100000] [--redemptions 10000000] [--reuse]

Creates a scratch database (``redcard_bench_standing`` on 127.0.0.1:5432, dropped first unless ``--reuse``),
migrates it and seeds the real tables with set-based SQL (``INSERT … SELECT generate_series``):

- 3 cities × 20 districts, 5 categories; N merchants (5% on probation, the rest listed; 1% rated 3.8, below
  the 4.0 floor; the last 2% never redeem), one food licence each (0.25% expired);
- 200,000 members: 140,000 paid annual cards (payment + paid period), 40,000 running trials, 20,000 trials
  that ended 40 days ago (half of them converted to a paid card);
- R confirmed redemptions (0.5% voided) spread over the last 120 local days, ~25 per merchant per 30 days;
- 60,000 complaints over 60 days (most resolved not upheld, some open and some past their SLA), plus
  3 upheld complaints at 200 merchants (complaint rate > 5%) and 2 upheld "refused the card" complaints at
  100 merchants; surge flags: 2 left open > 24 h at 500 merchants and 2,000 cleared within 2 h.

Then it runs ANALYZE and measures, in-process with the real code:

1. ``curation.ops.services.ops_rollup(days=400)`` (the one-off backfill) and ``ops_rollup(days=3)`` (the nightly job);
2. ``standing.removal_rules_evaluate()`` three times: the first run of the day (opens every finding), the same
   day again (must create nothing), and the next day (refreshes the open findings' evidence);
3. the operations overview: ``ops_figures()`` and the admin page ``/admin/curation/opsdailytotal/``
   rendered through Django's test client as a superuser (10 runs each after one warm-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import timed

DB_NAME = os.environ.get("BENCH_DB", "redcard_bench_standing")
ENV = harness.environment(DB_NAME, ALLOWED_HOSTS="testserver,localhost")
MEMBERS = 200_000


def drop_secondary_indexes(cursor, table: str) -> list[str]:
    """Drop the table's unique constraints and secondary indexes (not the primary key) for a bulk load;
    return the statements that recreate them."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    uniques = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    plain = cursor.fetchall()
    for name, _ in uniques:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in plain:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in plain] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in uniques
    ]


def seed(*, merchants: int, redemptions: int, day) -> None:
    """Set-based inserts into the real tables (table names and values are ours: no user input)."""
    from django.db import connection

    d = day.isoformat()
    active = merchants - merchants // 50  # the last 2% never redeem (dormant)
    statements = [
        (
            "cities",
            """INSERT INTO merchants_city (code, name_zh, name_en, timezone, seat_quota, center_lat, center_lng,
                radius_km, is_active)
               VALUES ('shanghai','上海','Shanghai','Asia/Shanghai',40000,31.23,121.47,60,true),
                      ('hangzhou','杭州','Hangzhou','Asia/Shanghai',40000,30.27,120.15,60,true),
                      ('guangzhou','广州','Guangzhou','Asia/Shanghai',40000,23.13,113.26,60,true)""",
        ),
        (
            "districts",
            """INSERT INTO merchants_district (city_id, code, name_zh, name_en)
               SELECT c.id, 'd' || g, '区' || g, 'District ' || g
               FROM merchants_city c CROSS JOIN generate_series(1, 20) g""",
        ),
        (
            "categories",
            """INSERT INTO merchants_category (code, name_zh, name_en, is_food, spend_min_fen, spend_max_fen,
                price_tier)
               SELECT 'cat' || g, '品类' || g, 'Category ' || g, true, 2000 * g, 8000 * g, 1 + g % 4
               FROM generate_series(1, 5) g""",
        ),
        (
            "merchants",
            f"""INSERT INTO merchants_merchant (id, public_id, legal_name, name_zh, name_en, uscc, food_licence,
                address, lat, lng, average_spend_fen, currency, external_rating, dine_in, opening_hours, state,
                state_changed_at, probation_until, removed_at, has_open_findings, daily_capacity,
                member_daily_limit, paused_on, promotion_hold, notes_url, created_at, category_id, city_id,
                district_id)
               SELECT i, md5('m' || i)::uuid, '公司' || i, '小店' || i, 'Shop ' || i,
                 '91310000' || lpad(i::text, 10, '0'), 'JY' || lpad(i::text, 14, '0'), '路 ' || i || ' 号',
                 31.2 + (i % 1000) / 10000.0, 121.4 + (i % 997) / 10000.0, 5000, 'CNY',
                 CASE WHEN i % 100 = 0 THEN 3.8 ELSE 4.0 + (i * 37 % 11) / 10.0 END, true, '{{}}'::jsonb,
                 CASE WHEN i % 20 = 0 THEN 'probation' ELSE 'listed' END, now() - interval '400 days',
                 CASE WHEN i % 20 = 0 THEN now() + interval '10 days' END, NULL, false, 200, 1, NULL, false, '',
                 '{d}'::date - 400, (SELECT min(id) FROM merchants_category) + i % 5,
                 (SELECT min(id) FROM merchants_city) + i % 3,
                 (SELECT min(id) FROM merchants_district) + (i % 3) * 20 + i % 20
               FROM generate_series(1, {merchants}) i""",  # noqa: S608
        ),
        (
            "licences",
            f"""INSERT INTO curation_merchantlicence (merchant_id, kind, number, expires_on, recorded_at)
               SELECT i, 'food', 'JY' || i, '{d}'::date + CASE WHEN i % 400 = 3 THEN -5 ELSE 200 END, now()
               FROM generate_series(1, {merchants}) i""",  # noqa: S608
        ),
        (
            "members",
            f"""INSERT INTO core_user (id, password, is_superuser, first_name, last_name, is_staff, is_active,
                date_joined, public_id, email, display_name, phone, language)
               SELECT 1000000 + i, '!', false, '', '', false, true, now(), md5('u' || i)::uuid,
                 'member' || i || '@bench.local', '会员' || i, '', 'zh-hans'
               FROM generate_series(1, {MEMBERS}) i""",  # noqa: S608
        ),
        (
            "subscriptions",
            f"""INSERT INTO members_subscription (id, public_id, state, is_trial, period_start, period_end,
                auto_renew, savings_fen, created_at, ended_at, plan_id, user_id)
               SELECT i, md5('s' || i)::uuid,
                 CASE WHEN i <= 140000 THEN 'active' WHEN i <= 180000 THEN 'trialing' ELSE 'expired' END,
                 i > 140000,
                 CASE WHEN i <= 140000 THEN '{d}'::date - 200 WHEN i <= 180000 THEN '{d}'::date - 30
                      ELSE '{d}'::date - 130 END,
                 CASE WHEN i <= 140000 THEN '{d}'::date + 165 WHEN i <= 180000 THEN '{d}'::date + 60
                      ELSE '{d}'::date - 40 END,
                 true, 0, now(), CASE WHEN i > 180000 THEN '{d}'::date - 40 END,
                 (SELECT id FROM members_plan WHERE code = CASE WHEN i <= 140000 THEN 'annual' ELSE 'trial' END),
                 1000000 + i
               FROM generate_series(1, {MEMBERS}) i""",  # noqa: S608
        ),
        (
            "converted trials",
            f"""INSERT INTO members_subscription (id, public_id, state, is_trial, period_start, period_end,
                auto_renew, savings_fen, created_at, plan_id, user_id)
               SELECT {MEMBERS} + i, md5('c' || i)::uuid, 'active', false, '{d}'::date - 40, '{d}'::date + 325,
                 true, 0, now(), (SELECT id FROM members_plan WHERE code = 'annual'), 1000000 + 180000 + i
               FROM generate_series(1, 10000) i""",  # noqa: S608
        ),
        (
            "payments",
            """INSERT INTO members_payment (public_id, kind, provider, amount_fen, currency, period_start, state,
                provider_txn_id, checkout_url, refunded_fen, flag_reason, created_at, paid_at, subscription_id)
               SELECT md5('p' || s.id)::uuid, 'initial', 'sandbox', 16800, 'CNY', s.period_start, 'paid',
                 'txn' || s.id, '', 0, '', s.period_start, s.period_start, s.id
               FROM members_subscription s WHERE NOT s.is_trial""",
        ),
        (
            "periods",
            """INSERT INTO members_subscriptionperiod (kind, start, "end", savings_fen, payment_id, subscription_id)
               SELECT 'paid', p.period_start, s.period_end, 0, p.id, s.id
               FROM members_payment p JOIN members_subscription s ON s.id = p.subscription_id""",
        ),
        (
            "redemptions",
            f"""INSERT INTO redemptions_redemption (public_id, channel, code_id, bill_fen, discount_fen,
                charge_fen, currency, rate_bp, cap_fen, funded_by, local_date, confirmed_at, status, voided_at,
                voided_by_label, void_reason, member_id, merchant_id, partner_id, staff_id, subscription_id)
               SELECT lpad(to_hex(i), 32, '0')::uuid, 'staff_scan', 'bench.' || i,
                 5000 + (i %% 151) * 100, (5000 + (i %% 151) * 100) * 12 / 100,
                 (5000 + (i %% 151) * 100) - (5000 + (i %% 151) * 100) * 12 / 100, 'CNY', 1200, NULL, 'merchant',
                 '{d}'::date - 1 - (i %% 120),
                 ('{d}'::date - 1 - (i %% 120)) + interval '4 hours' + (i %% 600) * interval '1 minute',
                 CASE WHEN i %% 200 = 0 THEN 'voided' ELSE 'confirmed' END,
                 CASE WHEN i %% 200 = 0 THEN ('{d}'::date - 1 - (i %% 120)) + interval '5 hours' END, '', '',
                 1000000 + 1 + (i::bigint * 104729) %% 180000, 1 + (i::bigint * 7919) %% {active}, NULL, NULL,
                 1 + (i::bigint * 104729) %% 180000
               FROM generate_series(%s, %s) i""",  # noqa: S608
        ),
        (
            "complaints",
            f"""INSERT INTO curation_complaint (public_id, category, text, photo, state, outcome, resolution_note,
                created_at, first_response_due, resolution_due, first_responded_at, resolved_at, member_id,
                merchant_id, redemption_id, partner_id, assignee_id)
               SELECT md5('q' || i)::uuid,
                 (ARRAY['refused_card','discount_not_applied','service','hygiene','other'])[1 + i % 5],
                 '投诉 ' || i, '',
                 CASE WHEN i % 50 = 0 THEN 'new' WHEN i % 50 = 1 THEN 'answered' ELSE 'resolved' END,
                 CASE WHEN i % 50 < 2 THEN '' ELSE 'not_upheld' END, '',
                 t, t + interval '24 hours', t + interval '72 hours',
                 CASE WHEN i % 50 = 0 THEN NULL ELSE t + (i % 30) * interval '1 hour' END,
                 CASE WHEN i % 50 < 2 THEN NULL ELSE t + (i % 30 + 2) * interval '1 hour' END,
                 1000000 + 1 + i % 180000, 1 + (i * 31) % {active}, NULL, NULL, NULL
               FROM (SELECT i, now() - (i % 1440) * interval '1 hour' AS t FROM generate_series(1, 60000) i) x""",  # noqa: S608
        ),
        (
            "upheld complaints",
            f"""INSERT INTO curation_complaint (public_id, category, text, photo, state, outcome, resolution_note,
                created_at, first_response_due, resolution_due, first_responded_at, resolved_at, member_id,
                merchant_id, redemption_id, partner_id, assignee_id)
               SELECT md5('u' || m || '-' || k || '-' || cat)::uuid, cat, '属实', '', 'resolved', 'upheld', '属实',
                 t, t + interval '24 hours', t + interval '72 hours', t + interval '2 hours', t + interval '3 hours',
                 1000000 + 1 + (m * 7 + k) % 180000, m, NULL, NULL, NULL
               FROM (
                 SELECT m, k, 'service' AS cat, '{d}'::date - 3 - k + interval '9 hours' AS t
                 FROM generate_series(1, {merchants}) m CROSS JOIN generate_series(1, 3) k
                 WHERE m % 500 = 1 AND m <= {active}
                 UNION ALL
                 SELECT m, k, 'refused_card', '{d}'::date - 5 - k + interval '9 hours'
                 FROM generate_series(1, {merchants}) m CROSS JOIN generate_series(1, 2) k
                 WHERE m % 1000 = 2 AND m <= {active}
               ) x""",  # noqa: S608
        ),
        (
            "surge flags",
            f"""INSERT INTO redemptions_surgeflag (detected_at, hour_count, baseline, cleared_at, note, merchant_id)
               SELECT t, 40, 5.0, t + interval '30 hours', '', m
               FROM (SELECT m, '{d}'::date - 3 - 5 * k + interval '12 hours' AS t
                     FROM generate_series(1, {merchants}) m CROSS JOIN generate_series(1, 2) k
                     WHERE m % 200 = 7) x
               UNION ALL
               SELECT '{d}'::date - 2 - i % 25 + interval '12 hours', 30, 5.0,
                 '{d}'::date - 2 - i % 25 + interval '14 hours', '', 1 + (i * 53) % {merchants}
               FROM generate_series(1, 2000) i""",  # noqa: S608
        ),
    ]
    with connection.cursor() as cursor:
        # Bulk load: foreign keys are checked by deferred triggers per row; skip them while seeding
        # (the generated ids are consistent by construction).
        cursor.execute("SET session_replication_role = replica")
        for label, sql in statements:
            start = time.perf_counter()
            if label == "redemptions":
                recreate = drop_secondary_indexes(cursor, "redemptions_redemption")
                chunk = 1_000_000
                for first in range(1, redemptions + 1, chunk):
                    cursor.execute(sql, [first, min(redemptions, first + chunk - 1)])
                    print(f"  redemptions {min(redemptions, first + chunk - 1):,}", flush=True)
                for statement in recreate:
                    began = time.perf_counter()
                    cursor.execute(statement)
                    print(f"  {statement[:70]}…: {time.perf_counter() - began:.1f} s", flush=True)
            else:
                cursor.execute(sql)
            print(f"seed {label}: {time.perf_counter() - start:.1f} s", flush=True)
        for table in ("merchants_merchant", "core_user", "members_subscription", "redemptions_redemption"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        start = time.perf_counter()
        cursor.execute("ANALYZE")
        print(f"ANALYZE: {time.perf_counter() - start:.1f} s", flush=True)


def measure_overview(runs: int = 10) -> None:
    """Median and max of ``ops_figures()`` and of the admin overview page (the figures plus the admin chrome)."""
    from django.test import Client, override_settings

    # Production serves hashed static names from a manifest made by collectstatic; the bench uses plain names.
    plain = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain):
        _measure_overview(runs, Client)


def _measure_overview(runs: int, Client) -> None:

    from core.models import User
    from curation.ops.selectors import ops_figures

    admin = User.objects.filter(email="bench-admin@bench.local").first() or User.objects.create_superuser(
        "bench-admin@bench.local", "bench"
    )
    client = Client()
    client.force_login(admin)
    ops_figures()
    figures = []
    for _ in range(runs):
        start = time.perf_counter()
        ops_figures()
        figures.append((time.perf_counter() - start) * 1000)
    client.get("/admin/curation/opsdailytotal/")
    pages = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get("/admin/curation/opsdailytotal/")
        pages.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    print(
        f"ops_figures(): median {statistics.median(figures):.0f} ms, max {max(figures):.0f} ms; "
        f"admin overview page: median {statistics.median(pages):.0f} ms, max {max(pages):.0f} ms",
        flush=True,
    )
    for figure in ops_figures().figures:
        print(f"  {figure.key}: {figure.value}")


def measure_rules(day) -> None:
    """Each rule's evaluator alone: time, queries and breaches."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from curation.models import RemovalRule
    from curation.standing.rules import EVALUATORS

    for rule in RemovalRule.objects.in_force():
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            found = EVALUATORS[rule.kind](rule, day)
            elapsed = time.perf_counter() - start
        print(
            f"  rule {rule.kind}: {elapsed * 1000:.0f} ms, {len(ctx.captured_queries)} queries, {len(found)} breaches"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--merchants", type=int, default=100_000)
    parser.add_argument("--redemptions", type=int, default=10_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database; only measure")
    args = parser.parse_args()
    if not args.reuse:
        harness.recreate_database(ENV, DB_NAME)
    harness.django_setup(ENV)
    from curation.models import EvaluationRun, Finding
    from curation.ops import services as ops_services
    from curation.standing import services as standing

    day = standing.evaluation_day()
    if not args.reuse:
        seed(merchants=args.merchants, redemptions=args.redemptions, day=day)
    else:
        Finding.objects.all().delete()
        EvaluationRun.objects.all().delete()
        from merchants.models import Merchant

        Merchant.objects.filter(state="warned").update(state="listed")
        Merchant.objects.update(has_open_findings=False)
    timed("ops_rollup(days=400) backfill", ops_services.ops_rollup, days=400)
    timed("ops_rollup(days=3) nightly", ops_services.ops_rollup, days=3)
    run, _ = timed("evaluation, first run of the day", standing.removal_rules_evaluate, day=day)
    print(f"  findings created {run.findings_created}, breaches per rule {run.report['breaches']}")
    run, _ = timed("evaluation, same day again", standing.removal_rules_evaluate, day=day)
    print(f"  findings created {run.findings_created}, attempts {run.attempts}")
    run, _ = timed("evaluation, next day (refresh)", standing.removal_rules_evaluate, day=day + timedelta(days=1))
    print(f"  findings created {run.findings_created}, refreshed {run.report['refreshed']}")
    measure_rules(day)
    measure_overview()


if __name__ == "__main__":
    main()
