"""Benchmark: redemption prepare + confirm under load, against gunicorn + PostgreSQL, next to pgbench.

    .venv/bin/python bench/redemption/run.py [--clients 32] [--seconds 20] [--workers 4] [--threads 4]
                                             [--shops 200] [--members 12000] [--reuse]

1. Creates a scratch database ``redcard_bench_redemption`` (127.0.0.1:5432, dropped first), migrates it
   and seeds ``--shops`` listed shops (capacity far above the run) and ``--members`` members with an
   active card, one partner POS application (scope ``redemptions:write``) granted at every shop.
2. Starts gunicorn (production settings, loopback only, ``--workers`` processes × ``--threads``
   threads) and the Celery broker on the local Redis (database 14), as in production.
3. Derives one fresh member code per member (each used once), then ``load.mjs`` (Node, keep-alive
   HTTP/1.1) runs ``--clients`` closed loops of ``POST prepare`` → ``POST confirm`` for ``--seconds``
   after a warm-up, and reports throughput and p50/p99 latency.
4. Runs pgbench (same database, same number of clients, same duration, 2 threads) on the bare SQL a
   confirm performs: the three reads (grant, member, entitlement) and the one write transaction
   (redemption insert, member-limit upsert, capacity + dashboard roll-up upsert, savings update, attribution
   read (issue 6), audit insert, webhook endpoint read, the member's notice insert), as captured from a real
   confirm.

Prints a JSON summary; the figures of the last run are in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import ROOT

HERE = Path(__file__).resolve().parent
DB_NAME = "redcard_bench_redemption"
PORT = 8765
ENV = harness.environment(DB_NAME, production=True, REDIS_URL="redis://127.0.0.1:6379/14")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    return harness.sh(ENV, cmd, **kwargs)


def setup_database() -> None:
    harness.recreate_database(ENV, DB_NAME)
    sh(["redis-cli", "-n", "14", "flushdb"], stdout=subprocess.DEVNULL)


def seed(shops: int, members: int) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from core.models import User
    from members.models import Plan, Subscription
    from members.services import seed_default_plans
    from merchants.models import Merchant, PartnerGrant
    from tests.factories import PartnerApplicationFactory, access_token_for
    from tests.factories.merchants import MerchantFactory

    seed_default_plans()
    plan = Plan.objects.get(code="annual")
    merchants = [MerchantFactory(daily_capacity=10_000_000) for _ in range(shops)]
    now = timezone.now()
    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"bench{n}@redcard.local", display_name=f"会员{n}", password=password) for n in range(members)],
        batch_size=2000,
    )
    Subscription.objects.bulk_create(
        [
            Subscription(
                user=u,
                plan=plan,
                state="active",
                period_start=now - timedelta(days=1),
                period_end=now + timedelta(days=364),
            )
            for u in users
        ],
        batch_size=2000,
    )
    app = PartnerApplicationFactory(name="Bench POS", allowed_scopes="redemptions:write")
    token = access_token_for(app, "redemptions:write", expires_in=3600 * 6)
    PartnerGrant.objects.bulk_create(
        [PartnerGrant(merchant=m, application=app, scopes="redemptions:write") for m in merchants]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "token": token.token,  # the raw bearer value (stored hashed)
        "app_id": app.pk,
        "merchants": [str(m.public_id) for m in Merchant.objects.order_by("pk")],
        "merchant_ids": (merchants[0].pk, merchants[-1].pk),
        "user_ids": (users[0].pk, users[-1].pk),
    }


def work_items(shops: list[str], shift: int) -> list[dict]:
    """One fresh code per member (derived now; valid for 90 s from its window), spread over the shops
    (member n at shop n + shift, so that a re-run with ``--reuse`` meets no daily limit)."""
    from core.models import User
    from redemptions.counter.services import member_code

    items = []
    # The last members are kept for capturing a confirm's statements and for the in-process cost.
    people = list(User.objects.filter(email__startswith="bench").only("pk", "public_id").order_by("pk"))[:-50]
    for n, person in enumerate(people):
        shop = shops[(n + shift) % len(shops)]
        # The next window's code: accepted at once (a phone whose clock runs ahead) and live for the
        # longest time (up to 120 s), so that a slow warm-up does not expire the codes of the run.
        items.append({"merchant": shop, "code": member_code(member=person, ahead=1).qr, "bill_fen": 8650})
    return items


def reuse_seed() -> dict:
    """The seeded database of an earlier run, with a new partner token."""
    from core.models import PartnerApplication, User
    from merchants.models import Merchant
    from tests.factories import access_token_for

    app = PartnerApplication.objects.get(name="Bench POS")
    users = User.objects.filter(email__startswith="bench").order_by("pk")
    merchants = Merchant.objects.order_by("pk")
    return {
        "token": access_token_for(app, "redemptions:write", expires_in=3600 * 6).token,
        "app_id": app.pk,
        "merchants": [str(m) for m in merchants.values_list("public_id", flat=True)],
        "merchant_ids": (merchants.first().pk, merchants.last().pk),  # type: ignore[union-attr]
        "user_ids": (users.first().pk, users.last().pk),  # type: ignore[union-attr]
    }


def captured_confirm_sql(shops: list[str], shift: int) -> list[str]:
    """The statements one confirm performs (for the README and to check the pgbench script)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import PartnerApplication, User
    from redemptions.counter import services
    from redemptions.counter.selectors import merchant_by_public_id
    from redemptions.models import Redemption

    merchant = merchant_by_public_id(public_id=shops[(2 * shift) % len(shops)])
    person = User.objects.filter(email__startswith="bench").order_by("-pk").first()
    counter = services.Counter(partner=PartnerApplication.objects.get(name="Bench POS"))
    code = services.member_code(member=person).qr
    ContentType.objects.get_for_model(Redemption)  # warm, as in a running server
    with CaptureQueriesContext(connection) as queries:
        services.redemption_confirm(merchant=merchant, counter=counter, bill=8650, code=code)
    return [q["sql"] for q in queries.captured_queries]


def in_process_cost(seed_info: dict, shift: int, pairs: int = 40) -> dict:
    """Python CPU and SQL statements per prepare + confirm through the whole stack (Django's test client,
    same middleware, OAuth, DRF, services): a figure that machine load hardly moves, unlike latency."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework.test import APIClient

    from core.models import PartnerApplication, User
    from redemptions.counter.services import member_code
    from redemptions.models import MemberDay
    from tests.factories import access_token_for

    client = APIClient()
    token = access_token_for(PartnerApplication.objects.get(name="Bench POS"), "redemptions:write")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}", HTTP_HOST="127.0.0.1")
    people = list(User.objects.filter(email__startswith="bench").order_by("-pk")[2 : pairs + 3])
    later = timezone.now() - timedelta(seconds=35)  # a window the load run does not use
    plan = []
    for person in people:  # a shop where this member has not redeemed today (re-runs with --reuse)
        used = set(MemberDay.objects.filter(member=person).values_list("merchant__public_id", flat=True))
        shop = next(shop for shop in seed_info["merchants"][shift % 7 :: 7] if UUID(shop) not in used)
        plan.append((person, shop, member_code(member=person, at=later).qr))

    def pair(person: User, shop: str, code: str) -> None:
        prepared = client.post("/api/v1/redemptions/prepare/", {"merchant": shop, "code": code}, format="json")
        assert prepared.status_code == 200, prepared.content
        body = {"merchant": shop, "token": prepared.json()["token"], "bill_fen": 8650}
        assert client.post("/api/v1/redemptions/confirm/", body, format="json").status_code == 201

    pair(*plan[0])  # warm caches
    started, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        for item in plan[1 : pairs + 1]:
            pair(*item)
    return {
        "pairs": pairs,
        "python_cpu_ms_per_pair": round((time.process_time() - cpu) / pairs * 1000, 1),
        "wall_ms_per_pair": round((time.perf_counter() - started) / pairs * 1000, 1),
        "sql_statements_per_pair": round(len(queries.captured_queries) / pairs, 1),
    }


PGBENCH_SQL = """\\set m random({ulo}, {uhi})
\\set s random({slo}, {shi})
SELECT scopes FROM merchants_partnergrant WHERE application_id = {app} AND merchant_id = :s LIMIT 1;
SELECT id, public_id, email FROM core_user WHERE id = :m AND is_active LIMIT 1;
SELECT id, state, period_start, period_end FROM members_subscription
  WHERE user_id = :m AND state IN ('trialing', 'active', 'cancel_at_period_end') LIMIT 1;
BEGIN;
INSERT INTO redemptions_redemption (public_id, member_id, subscription_id, merchant_id, staff_id, partner_id,
  channel, code_id, bill_fen, discount_fen, charge_fen, currency, rate_bp, cap_fen, funded_by, local_date,
  member_birth_year, confirmed_at, status, voided_at, voided_by_label, void_reason)
  SELECT gen_random_uuid(), :m, id, :s, NULL, {app}, 'partner_pos', gen_random_uuid()::text, 8650, 1038, 7612,
  'CNY', 1200, NULL, 'merchant', current_date, 1990, now(), 'confirmed', NULL, '', ''
  FROM members_subscription WHERE user_id = :m LIMIT 1 RETURNING id;
INSERT INTO redemptions_memberday (member_id, merchant_id, local_date, count) VALUES (:m, :s, current_date, 1)
  ON CONFLICT (member_id, merchant_id, local_date) DO UPDATE SET count = redemptions_memberday.count + 1
  WHERE redemptions_memberday.count < 1000000000 RETURNING count;
INSERT INTO merchants_merchantday (merchant_id, local_date, redemptions_count, confirmed_count, gmv_fen, discount_fen)
  VALUES (:s, current_date, 1, 1, 8650, 1038)
  ON CONFLICT (merchant_id, local_date) DO UPDATE SET redemptions_count = merchants_merchantday.redemptions_count + 1,
  confirmed_count = merchants_merchantday.confirmed_count + 1,
  gmv_fen = merchants_merchantday.gmv_fen + EXCLUDED.gmv_fen,
  discount_fen = merchants_merchantday.discount_fen + EXCLUDED.discount_fen
  WHERE merchants_merchantday.redemptions_count < 1000000000 RETURNING redemptions_count;
UPDATE members_subscription SET savings_fen = savings_fen + 1038 WHERE user_id = :m;
{attribution}
SELECT id, application_id, url, event_types FROM core_webhookendpoint WHERE is_active;
INSERT INTO core_auditentry (at, actor_id, actor_label, action, object_type_id, object_id, object_repr, reason,
  before, after) VALUES (now(), NULL, 'partner:bench', 'redemptions.redemption_confirm', {ct}, '1', 'bench', '',
  NULL, '{{"bill_fen": 8650, "discount_fen": 1038}}');
INSERT INTO core_notification (public_id, user_id, kind, title, body, url, created_at, read_at)
  VALUES (gen_random_uuid(), :m, 'redemptions.confirmed', '您在 bench 节省了 ¥10.38', '账单 ¥86.50，实付 ¥76.12。',
  '/r/mine/', now(), NULL);
COMMIT;
"""


def attribution_sql(statements: list[str]) -> str:
    """The attribution read of the confirm transaction, if there is one (issue 6), made generic."""
    for sql in statements:
        if "redemptions_touch" in sql and sql.lstrip().upper().startswith("SELECT"):
            return "SELECT 1 FROM redemptions_touch WHERE member_id = :m LIMIT 50;"
    return ""


def run_pgbench(seed_info: dict, clients: int, seconds: int, statements: list[str]) -> dict:
    from django.contrib.contenttypes.models import ContentType

    from redemptions.models import Redemption

    script = PGBENCH_SQL.format(
        ulo=seed_info["user_ids"][0],
        uhi=seed_info["user_ids"][1],
        slo=seed_info["merchant_ids"][0],
        shi=seed_info["merchant_ids"][1],
        app=seed_info["app_id"],
        ct=ContentType.objects.get_for_model(Redemption).pk,
        attribution=attribution_sql(statements),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        [
            "pgbench",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-r",
            "-f",
            handle.name,
            DB_NAME,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tps = next(float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps"))
    latency = next(
        (float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("latency average")), None
    )
    return {"tps": tps, "latency_avg_ms": latency, "script": script}


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status in (200, 503):
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not come up")


def serve_and_load(
    args: argparse.Namespace, seed_info: dict, items: list[dict], env: dict | None = None, rate: float = 0
) -> dict:
    """gunicorn on loopback with ``env`` over the bench settings, then the load client (closed loop, or open
    loop at ``rate`` pairs per second); its summary."""
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "redcard.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        env={**ENV, **(env or {})},
        cwd=ROOT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{PORT}/healthz")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(items, handle)
        load = subprocess.run(
            [
                "node",
                str(HERE / "load.mjs"),
                handle.name,
                f"http://127.0.0.1:{PORT}",
                seed_info["token"],
                str(args.clients),
                str(args.seconds),
                str(args.warmup),
                str(rate),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(load.stdout.strip().splitlines()[-1])
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--shops", type=int, default=200)
    parser.add_argument("--members", type=int, default=12000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run (no re-seeding)")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also load two no-op endpoints on the same URLs (DRF + OAuth + throttle; plain Django): the stack's floor",
    )
    parser.add_argument(
        "--rates",
        default="",
        help="also open-loop runs at these pairs per second (comma-separated, e.g. 10,20,30), on fresh codes",
    )
    args = parser.parse_args()

    if not args.reuse:
        setup_database()
    else:  # the code may have moved on since the database was made
        harness.migrate(ENV)
    harness.django_setup(ENV)
    seed_info = reuse_seed() if args.reuse else seed(args.shops, args.members)
    from redemptions.models import Redemption

    # Each run captures one confirm of the last member: their count numbers the runs.
    shift = 1 + Redemption.objects.filter(member_id=seed_info["user_ids"][1]).count()
    statements = captured_confirm_sql(seed_info["merchants"], shift)
    cost = in_process_cost(seed_info, shift)

    items = work_items(seed_info["merchants"], shift)
    http = serve_and_load(args, seed_info, items)
    used = http["items_used"]
    open_loop = {}
    for rate in [float(r) for r in args.rates.split(",") if r]:
        # Fresh codes (those derived for the first run would expire during a long session of runs), for the
        # members no run has used yet.
        run = serve_and_load(args, seed_info, work_items(seed_info["merchants"], shift)[used:], rate=rate)
        used += run["items_used"]
        open_loop[f"{rate:g}"] = {
            k: run[k] for k in ("pairs_per_second", "prepare_ms", "confirm_ms", "pair_ms", "errors", "confirmed")
        }
    floors = {}
    if args.floor:
        for floor in ("drf", "django"):
            floors[floor] = serve_and_load(
                args, seed_info, items, {"DJANGO_SETTINGS_MODULE": "bench.redemption.floor_settings", "FLOOR": floor}
            )

    bare = run_pgbench(seed_info, args.clients, args.seconds, statements)
    summary = {
        "config": vars(args),
        "http": http,
        "pgbench": {"tps": bare["tps"], "latency_avg_ms": bare["latency_avg_ms"]},
        "share_of_bare_sql": round(http["pairs_per_second"] / bare["tps"], 3),
        "confirm_statements": len(statements),
        "in_process": cost,
        "open_loop": open_loop,
        "floor": {
            name: {
                "pairs_per_second": f["pairs_per_second"],
                "share_of_bare_sql": round(f["pairs_per_second"] / bare["tps"], 3),
                "requests_per_second": f["requests_per_second"],
                "prepare_ms": f["prepare_ms"],
                "confirm_ms": f["confirm_ms"],
                "pair_ms": f["pair_ms"],
                "errors": f["errors"],
            }
            for name, f in floors.items()
        },
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print("\n-- pgbench script\n" + bare["script"])
    print("-- statements of one confirm (captured)\n" + "\n".join(s[:160] for s in statements))


if __name__ == "__main__":
    main()
