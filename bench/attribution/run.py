"""Benchmark (issue 6): touch ingestion through the batch endpoint, the cost of attribution in a confirm with
10 million touches stored, and the dashboard of a busy merchant (50,000 redemptions in the period).

    .venv/bin/python bench/attribution/run.py [--touches 10000000] [--members 100000] [--busy 50000]
                                              [--seconds 20] [--clients 4] [--workers 3] [--skip-seed]

1. Creates a scratch database ``redcard_bench_attribution`` (127.0.0.1:5432, dropped first) and migrates it.
   Seeds 50 shops, ``--members`` members (SQL ``generate_series``), 2,000 notes (40 per shop) from one content
   app, ``--touches`` touches over the last 90 days (SQL ``generate_series``; one touch in ten is on the busy
   shop's notes, so its visitors have read some), and ``--busy`` confirmed redemptions at the busy shop over
   the last 30 days. Indexes are built after the bulk load, as a restore would; the dashboard's roll-ups
   (merchant days, member days) are rebuilt from the loaded redemptions by ``dashboard_rollups_rebuild``, as
   confirm would have kept them; then VACUUM ANALYZE.
2. Attribution in a confirm: for 2,000 of the busy shop's redemptions, times ``credit_redemption`` (the
   touch query and the credit insert that ``redemption_confirm`` runs in its transaction), in-process,
   each inside its own transaction; reports mean, p50, p99. The credits it writes stay for step 4 (then
   VACUUM ANALYZE of the credits, as autovacuum would do after that bulk change).
3. Ingestion: starts gunicorn (production settings, loopback, ``--workers`` processes) and ``--clients``
   threads post distinct 1,000-touch batches (with an OAuth bearer token and an Idempotency-Key, as a
   content app would) for ``--seconds`` after a warm-up; reports touches per second and the latency of a
   batch. Every row must be accepted.
4. Dashboard: the owner's page and the insights API for the last 30 days (all ``--busy`` redemptions),
   in-process through Django's test client, ``--runs`` times each (30); reports p50/p95 and the number of
   queries. Then each selector alone in-process (median of ``--runs``) and the server time of each of the
   dashboard's queries (EXPLAIN ANALYZE, with the dashboard's settings), with their plans.

``--phases dashboard --skip-seed`` re-measures only the dashboard.

Prints a JSON summary; the figures of the last run are in README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import ROOT, percentile

DB_NAME = "redcard_bench_attribution"
PORT = 8766
ENV = harness.environment(DB_NAME, production=True, REDIS_URL="redis://127.0.0.1:6379/13")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-d", DB_NAME]
SHOPS = 50
NOTES_PER_SHOP = 40

# Indexes of redemptions_touch, dropped for the bulk load and built afterwards.
TOUCH_INDEXES = {
    "touch_member_at_idx": "CREATE INDEX touch_member_at_idx ON redemptions_touch (member_id, touched_at, note_id)",
    "touch_at_idx": "CREATE INDEX touch_at_idx ON redemptions_touch (touched_at)",
    "touch_note_idx": "CREATE INDEX touch_note_idx ON redemptions_touch (note_id)",
}


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    return harness.sh(ENV, cmd, **kwargs)


def psql(sql: str) -> None:
    sh([*PSQL, "-c", sql])


def seed(members: int, touches: int, busy: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from core.models import User
    from members.services import seed_default_plans, trial_start
    from merchants.models import MerchantStaff
    from redemptions.attribution import services as attribution
    from tests.factories import PartnerApplicationFactory, UserFactory
    from tests.factories.merchants import MerchantFactory

    seed_default_plans()
    shops = [MerchantFactory(daily_capacity=10_000_000, member_daily_limit=100) for _ in range(SHOPS)]
    busy_shop = shops[0]
    owner = UserFactory(email="owner@bench.local")
    MerchantStaff.objects.create(merchant=busy_shop, user=owner, role=MerchantStaff.Role.OWNER)
    card_holder = UserFactory(email="card@bench.local")
    subscription = trial_start(user=card_holder)
    app = PartnerApplicationFactory(name="Bench content app", allowed_scopes="notes:write touches:write")
    first_user = User.objects.order_by("-pk").values_list("pk", flat=True).first() + 1
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO core_user (password, is_superuser, first_name, last_name, is_staff, is_active,
                date_joined, public_id, email, display_name, phone, birth_year, language)
            SELECT '!', false, '', '', false, true, now(), gen_random_uuid(), 'm' || g || '@bench.local',
                '会员' || g, '', 1960 + (g * 7919) %% 45, 'zh-hans'
            FROM generate_series(1, %s) AS g
            """,
            [members],
        )
        last_user = first_user + members - 1
        cursor.execute("SELECT min(id), max(id) FROM core_user WHERE email LIKE 'm%%@bench.local'")
        first_user, last_user = cursor.fetchone()
        shop_ids = [s.pk for s in shops]
        cursor.execute(
            """
            INSERT INTO redemptions_note (public_id, source_id, external_id, author_external_id, title, url,
                published_at, created_at, updated_at)
            SELECT gen_random_uuid(), %s, 'n' || g, 'writer', '探店笔记 ' || g, 'https://notes.example/n/' || g,
                now() - interval '120 days', now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [app.pk, SHOPS * NOTES_PER_SHOP],
        )
        cursor.execute("SELECT min(id), max(id) FROM redemptions_note")
        first_note, last_note = cursor.fetchone()
        # Note k tags shop k mod 50: the busy shop's notes are the first_note + 50·j.
        cursor.execute(
            """
            INSERT INTO redemptions_notemerchant (note_id, merchant_id)
            SELECT n.id, (%s::bigint[])[1 + (n.id - %s) %% %s] FROM redemptions_note n
            """,
            [shop_ids, first_note, SHOPS],
        )
        seeded = time.perf_counter()
        for name in TOUCH_INDEXES:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("ALTER TABLE redemptions_touch DROP CONSTRAINT touch_source_external_unique")
        cursor.execute("ALTER TABLE redemptions_touch SET UNLOGGED")
        # The generated ids are valid by construction: skip the per-row foreign-key triggers of the load.
        cursor.execute("SET session_replication_role = replica")
        # One touch in ten is on one of the busy shop's 40 notes; the others on any note.
        cursor.execute(
            """
            INSERT INTO redemptions_touch (source_id, external_id, note_id, member_id, kind, touched_at, received_at)
            SELECT %(app)s, 's' || g,
                CASE WHEN random() < 0.1 THEN %(fn)s + %(shops)s * floor(random() * %(per)s)::int
                     ELSE %(fn)s + floor(random() * (%(ln)s - %(fn)s + 1))::int END,
                %(fu)s + floor(random() * (%(lu)s - %(fu)s + 1))::int,
                1 + floor(random() * 3)::int,
                now() - random() * interval '90 days',
                now()
            FROM generate_series(1, %(n)s) AS g
            """,
            {
                "app": app.pk,
                "fn": first_note,
                "ln": last_note,
                "shops": SHOPS,
                "per": NOTES_PER_SHOP,
                "fu": first_user,
                "lu": last_user,
                "n": touches,
            },
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ALTER TABLE redemptions_touch SET LOGGED")
        loaded = time.perf_counter()
        for sql in TOUCH_INDEXES.values():
            cursor.execute(sql)
        cursor.execute(
            "ALTER TABLE redemptions_touch ADD CONSTRAINT touch_source_external_unique UNIQUE (source_id, external_id)"
        )
        indexed = time.perf_counter()
        # The busy shop's redemptions over the last 30 days (one card's subscription carries them all).
        cursor.execute(
            """
            INSERT INTO redemptions_redemption (public_id, member_id, subscription_id, merchant_id, channel,
                code_id, bill_fen, discount_fen, charge_fen, currency, rate_bp, funded_by, local_date,
                member_birth_year, confirmed_at, status, voided_by_label, void_reason)
            SELECT gen_random_uuid(), m, %(sub)s, %(shop)s, 'staff_scan', 'bench.' || g, b, ceil(b * 0.12),
                b - ceil(b * 0.12), 'CNY', 1200, 'merchant', (t AT TIME ZONE 'Asia/Shanghai')::date,
                (SELECT u.birth_year FROM core_user u WHERE u.id = r.m), t, 'confirmed', '', ''
            FROM (
                SELECT g, %(fu)s + floor(random() * least(%(lu)s - %(fu)s + 1, 20000))::int AS m,
                       (2000 + floor(random() * 20000))::bigint AS b,
                       now() - random() * interval '29 days' AS t
                FROM generate_series(1, %(n)s) AS g
            ) AS r
            """,
            {"sub": subscription.pk, "shop": busy_shop.pk, "fu": first_user, "lu": last_user, "n": busy},
        )
    # The bulk load bypassed confirm: the dashboard's roll-ups as confirm would have kept them.
    from redemptions.attribution.services import dashboard_rollups_rebuild

    loaded_redemptions = time.perf_counter()
    dashboard_rollups_rebuild()
    rolled_up = time.perf_counter()
    # What autovacuum does after a bulk load: statistics and the visibility map (index-only scans).
    connection.close()
    psql("VACUUM ANALYZE")
    attribution.home_districts_refresh()
    done = time.perf_counter()
    return {
        "app_id": app.pk,
        "busy_shop": str(busy_shop.public_id),
        "owner_id": owner.pk,
        "first_note": first_note,
        "users": (first_user, last_user),
        "seed_seconds": {
            "people_notes": round(seeded - t0, 1),
            "touches_insert": round(loaded - seeded, 1),
            "touch_indexes": round(indexed - loaded, 1),
            "redemptions_and_home_districts": round(done - indexed - (rolled_up - loaded_redemptions), 1),
            "dashboard_rollups_rebuild": round(rolled_up - loaded_redemptions, 1),
        },
        "seeded_at": timezone.now().isoformat(),
    }


def attribution_cost(busy_shop: str, samples: int = 2000) -> dict:
    """Time credit_redemption (what confirm adds) on busy-shop redemptions, one transaction each."""
    from django.db import connection, transaction

    from redemptions.attribution.services import credit_redemption
    from redemptions.models import Redemption
    from redemptions.models.attribution import AttributionCredit, Touch

    rows = list(Redemption.objects.filter(merchant__public_id=busy_shop).select_related("merchant").order_by("pk"))
    timings, credited = [], 0
    step = max(1, len(rows) // samples)
    sample = rows[::step][:samples]
    sampled = {r.pk for r in sample}
    AttributionCredit.objects.filter(redemption_id__in=sampled).delete()  # a re-run measures afresh
    rest_done = AttributionCredit.objects.exists()
    for r in rows[:50]:  # warm the connection and the plan (rolled back)
        with transaction.atomic():
            AttributionCredit.objects.filter(redemption_id=r.pk).delete()
            credit_redemption(redemption=r)
            transaction.set_rollback(True)
    for r in sample:
        with transaction.atomic():
            start = time.perf_counter()
            credit_redemption(redemption=r)
            timings.append((time.perf_counter() - start) * 1000)
    credited = AttributionCredit.objects.filter(redemption__in=sample).values("redemption").distinct().count()
    # Credit every busy-shop redemption for the dashboard (same code path, not timed; once).
    for r in rows:
        if r.pk not in sampled and not rest_done:
            with transaction.atomic():
                credit_redemption(redemption=r)
    connection.close()  # autocommit, outside any transaction: VACUUM
    psql("VACUUM ANALYZE redemptions_attributioncredit")  # what autovacuum does after the bulk crediting
    probe = sample[len(sample) // 2]
    plan = (
        Touch.objects.filter(
            member_id=probe.member_id,
            touched_at__gte=probe.confirmed_at - timedelta(days=90),
            touched_at__lte=probe.confirmed_at,
            note__hidden_at__isnull=True,
            note__tags__merchant_id=probe.merchant_id,
        )
        .order_by("touched_at", "note_id")
        .values_list("note_id", "touched_at")
        .explain(analyze=True, buffers=True)
        .splitlines()
    )
    return {
        "touches_stored": Touch.objects.count(),
        "samples": len(timings),
        "with_credit": credited,
        "credits_total": AttributionCredit.objects.count(),
        "ms_mean": round(statistics.mean(timings), 3),
        "ms_p50": round(percentile(timings, 0.5), 3),
        "ms_p99": round(percentile(timings, 0.99), 3),
        "plan": plan,
    }


def ingestion(meta: dict, seconds: int, clients: int, workers: int, members: int) -> dict:
    from django.db import connection

    from core.models import PartnerApplication, User
    from redemptions.models.attribution import Touch
    from tests.factories import access_token_for

    app = PartnerApplication.objects.get(pk=meta["app_id"])
    token = access_token_for(app, "notes:write touches:write", expires_in=3600 * 6).token
    member_ids = [
        str(u) for u in User.objects.filter(email__endswith="@bench.local").values_list("public_id", flat=True)[:20000]
    ]
    note_ids = [f"n{k}" for k in range(1, SHOPS * NOTES_PER_SHOP + 1)]
    before = Touch.objects.count()
    connection.close()

    counter = iter(range(10**9))
    run = uuid.uuid4().hex[:8]  # distinct external ids on every run
    lock = threading.Lock()

    def body() -> bytes:
        with lock:
            batch = next(counter)
        now = time.time()
        rows = [
            {
                "external_id": f"{run}-b{batch}-{i}",
                "note": note_ids[(batch * 7 + i * 13) % len(note_ids)],
                "member": member_ids[(batch * 1000 + i) % len(member_ids)],
                "kind": ("view", "click", "save")[i % 3],
                "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 60 - i)),
            }
            for i in range(1000)
        ]
        return json.dumps({"touches": rows}).encode()

    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "redcard.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=ENV,
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        results: list[tuple[float, float, int]] = []  # (end time, latency ms, accepted)
        errors: list[str] = []
        stop_at = [0.0]

        def client_loop() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            while True:
                payload = body()
                start = time.perf_counter()
                if start > stop_at[0]:
                    return
                conn.request(
                    "POST",
                    "/api/v1/touches/batch/",
                    payload,
                    {
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": str(uuid.uuid4()),
                        "X-Forwarded-Proto": "https",
                    },
                )
                response = conn.getresponse()
                data = response.read()
                end = time.perf_counter()
                if response.status != 200:
                    errors.append(f"{response.status} {data[:200]!r}")
                    return
                results.append((end, (end - start) * 1000, json.loads(data)["accepted"]))

        # Warm-up (each worker loads Django, opens its connection), then the measured run.
        stop_at[0] = time.perf_counter() + 3
        warm = [threading.Thread(target=client_loop) for _ in range(clients)]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        results.clear()
        began = time.perf_counter()
        stop_at[0] = began + seconds
        threads = [threading.Thread(target=client_loop) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = max(r[0] for r in results) - began
        accepted = sum(r[2] for r in results)
        latencies = [r[1] for r in results]
    finally:
        server.terminate()
        server.wait(10)
    return {
        "clients": clients,
        "gunicorn_workers": workers,
        "batches": len(results),
        "touches_accepted": accepted,
        "all_rows_accepted": accepted == 1000 * len(results),
        "errors": errors[:3],
        "seconds": round(elapsed, 2),
        "touches_per_second": round(accepted / elapsed),
        "batch_ms_p50": round(percentile(latencies, 0.5), 1),
        "batch_ms_p99": round(percentile(latencies, 0.99), 1),
        "touches_stored_after": Touch.objects.count(),
        "touches_stored_before": before,
    }


def dashboard(meta: dict, runs: int = 30) -> dict:
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from core.models import User
    from redemptions.models import Redemption

    # Production settings expect collectstatic's manifest; the page only needs static URLs here.
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    owner = User.objects.get(pk=meta["owner_id"])
    client = Client()
    client.force_login(owner)
    out = {}
    redemptions = Redemption.objects.filter(merchant__public_id=meta["busy_shop"], status="confirmed").count()
    for name, url in (
        ("page", f"/r/dashboard/{meta['busy_shop']}/"),
        ("api", f"/api/v1/insights/merchants/{meta['busy_shop']}/"),
        ("page_linear", f"/r/dashboard/{meta['busy_shop']}/?model=linear"),
    ):
        for _ in range(3):
            assert client.get(url, secure=True).status_code == 200
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            response = client.get(url, secure=True)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as queries:
            client.get(url, secure=True)
        out[name] = {
            "ms_p50": round(percentile(timings, 0.5), 1),
            "ms_p95": round(percentile(timings, 0.95), 1),
            "queries": len(queries),
        }
    out["redemptions_in_period"] = redemptions
    out.update(dashboard_parts(meta, runs))
    return out


def dashboard_parts(meta: dict, runs: int) -> dict:
    """Each selector of the dashboard alone, in-process (median of ``runs``), and the server time of each
    query one dashboard runs (EXPLAIN ANALYZE inside the dashboard's transaction settings), with the plans."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from merchants.models import Merchant
    from redemptions.attribution import selectors

    merchant = Merchant.objects.get(public_id=meta["busy_shop"])
    today = selectors.merchant_today(merchant=merchant)
    period = selectors.period_parse(start=None, end=None, today=today)
    parts = {
        "daily_series": lambda: selectors.daily_series(merchant=merchant, period=period),
        "visitors": lambda: selectors.visitors(merchant=merchant, period=period, today=today),
        "leaderboard last": lambda: selectors.leaderboard(merchant=merchant, period=period, model="last"),
        "leaderboard linear": lambda: selectors.leaderboard(merchant=merchant, period=period, model="linear"),
    }
    in_process = {}
    for name, part in parts.items():
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")  # as dashboard() runs them
            part()
            timings = []
            for _ in range(runs):
                start = time.perf_counter()
                part()
                timings.append((time.perf_counter() - start) * 1000)
        in_process[name] = round(statistics.median(timings), 1)
    server: dict[str, dict] = {}
    for model in ("last", "linear"):
        with CaptureQueriesContext(connection) as captured:
            selectors.dashboard(merchant=merchant, period=period, model=model, today=today)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            for query in captured.captured_queries:
                if not query["sql"].lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, TIMING OFF) " + query["sql"])  # no per-node clock: closer
                elapsed = float(cursor.fetchall()[-1][0].split(":")[1].split()[0])
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = [row[0] for row in cursor.fetchall()]
                name = (
                    "merchant_day"
                    if "merchants_merchantday" in query["sql"].split("WHERE")[0]
                    else ("leaderboard" if "attributioncredit" in query["sql"] else "visitors")
                )
                if name == "leaderboard":
                    name = f"leaderboard {model}"
                elif model == "linear":
                    continue  # the same query as under last touch
                server[name] = {
                    "ms": elapsed,
                    "ms_with_node_timing": float(plan[-1].split(":")[1].split()[0]),
                    "plan": plan,
                }
    return {"selectors_ms_in_process": in_process, "queries_server": server}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--touches", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--busy", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true", help="reuse the database of the last run")
    parser.add_argument("--runs", type=int, default=30, help="dashboard requests per page (and per selector)")
    parser.add_argument("--phases", default="attribution_in_confirm,dashboard,ingestion")
    args = parser.parse_args()
    meta_file = ROOT / "var" / "bench_attribution.json"
    if not args.skip_seed:
        harness.recreate_database(ENV, DB_NAME)
    else:  # the code may have moved on since the database was seeded
        harness.migrate(ENV)
    harness.django_setup(ENV)
    if args.skip_seed:
        meta = json.loads(meta_file.read_text())
    else:
        meta = seed(args.members, args.touches, args.busy)
        meta_file.parent.mkdir(parents=True, exist_ok=True)
        meta_file.write_text(json.dumps(meta))
    summary = {"seed": meta["seed_seconds"]}
    for name, step in (
        ("attribution_in_confirm", lambda: attribution_cost(meta["busy_shop"])),
        ("dashboard", lambda: dashboard(meta, args.runs)),
        ("ingestion", lambda: ingestion(meta, args.seconds, args.clients, args.workers, args.members)),
    ):
        if name not in args.phases.split(","):
            continue
        summary[name] = step()
        print(json.dumps({name: summary[name]}, ensure_ascii=False), flush=True)
    summary["load_average_after"] = os.getloadavg()
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
