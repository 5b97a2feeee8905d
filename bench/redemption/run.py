"""Benchmark: the one-request confirm (partner POS fast path) under load, in one run, next to its floors.

    .venv/bin/python bench/redemption/run.py [--reuse] [--server gunicorn] [--workers 4] [--threads 1]
        [--clients 32] [--seconds 20] [--rate 50] [--open-seconds 20] [--only closed]

One run measures, in this order, each phase bounded in time and count, loopback only, and each started once the
machine is quiet again (``quiet``: 80 % of the CPUs idle over 2 s, at most 90 s of waiting; what it saw is in
the summary as ``idle_before_<phase>``), so that a phase does not pay for the checkpoint or autovacuum the last
one left:

1. **pgbench** on the SQL of one confirm request (the token with its application, the shop with the partner's
   grant, BEGIN, the shop's terms ``FOR SHARE``, the member with the entitlement ``FOR NO KEY UPDATE``, the one
   statement of writes built by ``confirm_writes``, COMMIT): what PostgreSQL alone does with that transaction.
2. **Closed loop**: the app server (the project's ``gunicorn.conf.py``, production settings, ``--workers`` ×
   ``--threads``) and ``load.mjs``: ``--clients`` clients, each sending its next ``POST /confirm/`` (member
   code + bill, OAuth bearer token) when the last one is answered, for ``--seconds`` after a warm-up.
3. **Open loop** at ``--rate`` confirms per second (Poisson arrivals) for ``--open-seconds``: latency below
   saturation.
4. **The floor**: the same server and load on a DRF view behind the same OAuth authentication, scope
   permission and throttle that does nothing (``floor.py``): what the stack costs before a line of
   redemption code runs; then the **plain floor** (``BENCH_FLOOR=plain``): the same checks by hand in a
   Django view without DRF.
5. **The outbox worker**: one Celery worker (solo pool) drains the side effects the loads left pending (their
   commits queued drain tasks, ``redemptions.counter.outbox``), rows per second, with realistic side effects
   (``seed``: notes and touches that earn credit, a partner endpoint listening), and how many credits, webhook
   events and deliveries and notices it wrote. The phase counts the outbox rows only: the deliveries the
   batches queue are sent by the tasks queued behind the drain, after the rows are done.

App-server CPU per confirmed redemption is the CPU time of the server's processes (``/proc/<pid>/stat``: the
workers', the master's and its reaped children's), read when the measured window opens and closes, divided by
the redemptions confirmed in it. Prints a JSON summary; the figures are in README.md.

Redis: database 13 (cache and throttle), 14 (Celery broker), 15 (results, unused): the project's layout of
three consecutive databases from ``REDIS_URL``. ``BENCH_DB``, ``BENCH_REDIS_DB`` and ``BENCH_PORT`` move the
run's database (``redcard_bench_redemption``), its first Redis database and the server's port, so that a second
run beside another one touches nothing of it.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import ROOT

HERE = Path(__file__).resolve().parent
DB_NAME = os.environ.get("BENCH_DB", "redcard_bench_redemption")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
#: Where the partner endpoint of the bench points: the discard port, where nothing listens (a delivery fails at
#: once; the production settings refuse a loopback destination anyway).
HOOK_URL = "http://127.0.0.1:9/hooks"
ENV = harness.environment(DB_NAME, production=True, REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}")
TICK = os.sysconf("SC_CLK_TCK")


def setup_database() -> None:
    harness.recreate_database(ENV, DB_NAME)


def flush_redis() -> None:
    for db in (REDIS_DB, REDIS_DB + 1, REDIS_DB + 2):
        harness.sh(ENV, ["redis-cli", "-n", str(db), "flushdb"], stdout=subprocess.DEVNULL)


def seed(shops: int, members: int) -> None:
    """Shops, members with an active card, the "Bench POS" partner granted at every shop, and what gives the
    outbox realistic work:

    - a partner endpoint of the POS listening to ``redemption.*`` (at ``HOOK_URL``): every redemption's row
      writes a webhook event and a delivery;
    - notes of a content app: one per shop, tagging it, and a city guide tagging every shop;
    - touches, one to three hours before the seeding, by every other member (n even): the guide (so that their
      redemption earns credit at whatever shop ``Work`` sends them to) and, for n % 3 = 1 or 2, also the notes
      of shops n + 1 and (n % 3 = 2) n + 2, the shops ``Work`` sends member n to in the first two runs on this
      database (shift 1 and 2): a credited redemption has three credits (one note) to five (three notes).

    So half the redemptions earn credit while the touches are inside the city's window (seven days: a
    ``--reuse`` run a week after the seeding credits nothing)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from core.models import User, WebhookEndpoint
    from members.models import Plan, Subscription
    from members.services import seed_default_plans
    from merchants.models import PartnerGrant
    from redemptions.models import Note, NoteMerchant, Touch
    from tests.factories import PartnerApplicationFactory
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
    PartnerGrant.objects.bulk_create(
        [PartnerGrant(merchant=m, application=app, scopes="redemptions:write") for m in merchants]
    )
    WebhookEndpoint.objects.create(
        application=app, url=HOOK_URL, event_types=["redemption.confirmed", "redemption.voided"]
    )
    content = PartnerApplicationFactory(name="Bench notes", allowed_scopes="notes:write touches:write")
    published = now - timedelta(days=30)
    notes = Note.objects.bulk_create(
        [
            Note(
                source=content,
                external_id=f"n{i}",
                title=f"探店 {i}",
                url=f"https://notes.example/{i}",
                published_at=published,
            )
            for i in range(shops + 1)
        ]
    )
    guide, shop_notes = notes[-1], notes[:-1]
    NoteMerchant.objects.bulk_create(
        [NoteMerchant(note=note, merchant=m) for note, m in zip(shop_notes, merchants, strict=True)]
        + [NoteMerchant(note=guide, merchant=m) for m in merchants]
    )
    touches = []
    for n, user in enumerate(users):
        if n % 2:
            continue
        touched = [guide] + [shop_notes[(n + k) % shops] for k in range(1, 1 + n % 3)]
        touches += [
            Touch(source=content, external_id=f"t{n}-{k}", note=note, member=user, kind=Touch.Kind.VIEW,
                  touched_at=now - timedelta(hours=3 - k))
            for k, note in enumerate(touched)
        ]  # fmt: skip
    Touch.objects.bulk_create(touches, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def seeded() -> dict:
    """The seeded database, with a new partner token (the raw bearer value; stored hashed)."""
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


class Work:
    """Confirm request bodies, derived just before each load (a member code lives about two minutes): one fresh
    code per member, each used once, member n at shop n + shift, so that a re-run (``--reuse``, a larger
    ``shift``) meets no member's daily limit."""

    def __init__(self, shops: list[str], shift: int) -> None:
        from core.models import User

        self.shops, self.shift, self.used = shops, shift, 0
        self.people = list(User.objects.filter(email__startswith="bench").only("pk", "public_id").order_by("pk"))

    def take(self, count: int) -> list[dict]:
        from redemptions.counter.services import member_code

        first = self.used
        self.used = min(len(self.people), first + count)
        # The next window's code: accepted at once (a phone whose clock runs ahead) and live the longest.
        return [
            {
                "merchant": self.shops[(n + self.shift) % len(self.shops)],
                "code": member_code(member=self.people[n], ahead=1).qr,
                "bill_fen": 8650,
            }
            for n in range(first, self.used)
        ]


# --- pgbench ------------------------------------------------------------------------------------------


def pgbench_script(info: dict) -> str:
    """The statements of one confirm request as pgbench runs them: built by the code the server runs
    (``core.oauth``, ``merchants.selectors``, ``members.selectors``, ``confirm_writes``), with the shop
    (``:s``), the member (``:m``), the code and the ids made per transaction."""
    import hashlib

    from django.db import connection
    from django.utils import timezone

    from core.models import PartnerApplication
    from core.oauth import _token_sql
    from core.sql import writes_statement
    from members.models import ENTITLED_STATES
    from members.selectors import _entitled_member_sql
    from merchants.models import Merchant
    from merchants.selectors import _REDEEM_TERMS_SQL, _merchant_access_sql, local_date, merchant_with_access
    from redemptions.counter.services import Counter
    from redemptions.counter.services.redeem import confirm_writes
    from redemptions.models import Channel, Redemption

    compose = connection.ops.compose_sql
    app = PartnerApplication.objects.get(pk=info["app_id"])
    checksum = hashlib.sha256(info["token"].encode()).hexdigest()
    shop = Merchant.objects.select_related("city", "offer").get(pk=info["merchant_ids"][0])
    assert merchant_with_access(public_id=shop.public_id, application=app) is not None  # the statement it runs:
    shop_sql = compose(_merchant_access_sql("partner"), [app.pk, shop.public_id]).replace(
        compose("%s", [shop.public_id]), "(SELECT public_id FROM merchants_merchant WHERE id = :s)"
    )
    member_sql = compose(
        _entitled_member_sql("id", True).replace("u.id = %s", "u.id = :m"),
        [state.value for state in ENTITLED_STATES],
    )
    m, s, sub, code = 2_000_000_001, 2_000_000_002, 2_000_000_003, "bench-code-id"
    redemption = Redemption(
        member_id=m, subscription_id=sub, merchant_id=s, partner_id=app.pk, channel=Channel.PARTNER_POS,
        code_id=code, bill_fen=8650, discount_fen=1038, charge_fen=7612, currency="CNY", rate_bp=1200,
        funded_by="merchant", local_date=local_date(merchant=shop, at=timezone.now()) + timedelta(days=400),
        confirmed_at=timezone.now(),
    )  # fmt: skip
    # A day the loads never reach: pgbench's member-day and shop-day rows must not meet the loads' members at their
    # shops today (they did: a few member_limit_reached in the closed loop). The statements are the same.
    writes = confirm_writes(redemption=redemption, merchant=shop, counter=Counter(partner=app))
    writes_sql = compose(*writes_statement(writes))
    for value, variable in (
        (compose("%s", [redemption.public_id]), "gen_random_uuid()"),
        (compose("%s", [code]), "gen_random_uuid()::text"),
        (str(m), ":m"),
        (str(s), ":s"),
        (str(sub), "(SELECT id FROM members_subscription WHERE user_id = :m LIMIT 1)"),
    ):
        writes_sql = writes_sql.replace(value, variable)
    lines = [
        f"\\set m random({info['user_ids'][0]}, {info['user_ids'][1]})",
        f"\\set s random({info['merchant_ids'][0]}, {info['merchant_ids'][1]})",
        compose(_token_sql(), [checksum]),
        shop_sql,
        "BEGIN",
        _REDEEM_TERMS_SQL.replace("%s", ":s") + " FOR SHARE OF m, o",
        member_sql,
        writes_sql,
        "COMMIT",
    ]
    return "".join(" ".join(line.split()) + ";\n" if not line.startswith("\\") else line + "\n" for line in lines)


def run_pgbench(info: dict, clients: int, seconds: int) -> dict:
    script = pgbench_script(info)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    command = ["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-c", str(clients), "-j", "2"]
    command += ["-T", str(seconds), "-f", handle.name, DB_NAME]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    tps = next(float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps"))
    latency = next(
        float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("latency average")
    )
    return {"tps": tps, "latency_avg_ms": latency, "script": script}


# --- the app server -------------------------------------------------------------------------------------


def quiet(*, idle_share: float = 0.8, window: float = 2.0, limit: float = 90.0) -> float:
    """Wait until the machine is quiet: at least ``idle_share`` of the CPUs idle over ``window`` seconds (from
    ``/proc/stat``), after the seeding, pgbench or a load phase left PostgreSQL writing (checkpoint, autovacuum
    of the tables just filled); at most ``limit`` seconds. Each phase then starts on the same footing. Returns
    the idle share seen last."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    deadline, share = time.time() + limit, 0.0
    while time.time() < deadline:
        idle_before, total_before = sample()
        time.sleep(window)
        idle_after, total_after = sample()
        share = (idle_after - idle_before) / max(1, total_after - total_before)
        if share >= idle_share:
            break
    return round(share, 2)


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid``, its live children (the workers) and the children it has reaped (restarted workers)."""
    total = 0.0
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    total += sum(int(f) for f in fields[11:15]) / TICK  # utime, stime, cutime, cstime
    for child in _children(pid):
        try:
            with open(f"/proc/{child}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited between the listing and the read: its time is in cutime next time
            continue
        total += sum(int(f) for f in fields[11:15]) / TICK
    return total


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(c) for c in handle.read().split()]
        except FileNotFoundError:
            continue
    return children


def server_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The app server, as deployed: gunicorn with the project's gunicorn.conf.py (environment overrides only);
    ``--server granian`` (installed apart: ``pip install --target DIR granian`` and ``GRANIAN_PATH=DIR``) for
    the comparison in docs/decisions/0018."""
    if args.server == "granian":
        path = os.environ.get("GRANIAN_PATH", "")
        command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(PORT)]
        command += ["--workers", str(args.workers), "--blocking-threads", str(args.threads), "--no-ws"]
        command += ["--log-level", "warning", "redcard.wsgi:application"]
        return command, {"PYTHONPATH": f"{path}:{ROOT}" if path else str(ROOT)}
    env = {
        "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_KEEPALIVE": "30",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    if args.worker_class:
        env["GUNICORN_WORKER_CLASS"] = args.worker_class
    return [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "redcard.wsgi"], env


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status in (200, 503):
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the app server did not come up")


def load(args: argparse.Namespace, info: dict, work: Work, *, rate: float, seconds: int, pid: int) -> dict:
    """``load.mjs`` against the running server (fresh codes for at most 400 confirms a second closed loop,
    ``rate`` open loop); the server's CPU time over the measured window."""
    items = work.take(args.warmup + int((rate * 1.2 or 400) * seconds))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(items, handle)
    command = ["node", str(HERE / "load.mjs"), handle.name, f"http://127.0.0.1:{PORT}", info["token"]]
    command += [str(args.clients), str(seconds), str(args.warmup), str(rate)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    cpu = {}
    result: dict = {}
    load_before = os.getloadavg()[0]
    for line in client.stdout:
        if line.startswith("MEASURING"):
            cpu["start"] = cpu_seconds(pid)
        elif line.startswith("MEASURED"):
            cpu["end"] = cpu_seconds(pid)
        elif line.startswith("{"):
            result = json.loads(line)
    client.wait(timeout=seconds + 120)
    used = cpu["end"] - cpu["start"]
    result["server_cpu_s"] = round(used, 2)
    result["server_cpu_ms_per_confirmed"] = round(used * 1000 / max(1, result["confirmed"]), 2)
    result["server_cpu_cores"] = round(used / result["seconds"], 2)
    result["load_average_before"] = load_before
    return result


class Server:
    def __init__(self, args: argparse.Namespace, extra: dict[str, str] | None = None) -> None:
        command, env = server_command(args)
        self.log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            command, env={**ENV, **env, **(extra or {})}, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )

    def __enter__(self) -> int:
        wait_healthy(f"http://127.0.0.1:{PORT}/healthz")
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


# --- the outbox worker --------------------------------------------------------------------------------


def pending() -> int:
    from redemptions.models import RedemptionOutbox

    return RedemptionOutbox.objects.filter(done_at__isnull=True).count()


def side_effects() -> dict[str, int]:
    """What outbox rows write, counted: attribution credits, webhook events and deliveries, "you saved" notices."""
    from core.models import Notification, WebhookDelivery, WebhookEvent
    from redemptions.models import AttributionCredit

    return {
        "credits": AttributionCredit.objects.count(),
        "events": WebhookEvent.objects.filter(type__startswith="redemption.").count(),
        "deliveries": WebhookDelivery.objects.filter(event__type__startswith="redemption.").count(),
        "notices": Notification.objects.filter(kind="redemptions.confirmed").count(),
    }


def outbox_worker(limit_seconds: int = 120) -> dict:
    """One Celery worker (solo pool: one process, one task at a time) drains the rows the loads left pending
    (their commits queued drain tasks; one more is queued here, as the next commit would). Counts the rows
    only (the deliveries the batches queue are sent after them), and reports what the rows wrote."""
    from redemptions.counter.tasks import outbox_drain

    before, effects_before = pending(), side_effects()
    outbox_drain.delay()
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "redcard", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + limit_seconds
        while pending() == before and time.time() < deadline:  # the worker is starting
            time.sleep(0.05)
        started, cpu_start, left_start = time.perf_counter(), cpu_seconds(worker.pid), pending()
        while time.time() < deadline:
            left = pending()
            if left == 0:
                break
            time.sleep(0.2)
        elapsed, cpu_used = time.perf_counter() - started, cpu_seconds(worker.pid) - cpu_start
    finally:  # a warm shutdown finishes the batch in hand; a worker still busy after 30 s is killed
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)
    done = left_start - pending()
    return {
        "rows": done,
        "seconds": round(elapsed, 2),
        "rows_per_second": round(done / elapsed, 1) if elapsed else None,
        "worker_cpu_ms_per_row": round(cpu_used * 1000 / max(1, done), 2),
        "left_pending": pending(),
        # What every row the worker did wrote (the rows of the first batch too, done before the window opens).
        "written": {"rows": before - pending()}
        | {name: count - effects_before[name] for name, count in side_effects().items()},
    }


# --- main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--open-seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)  # gunicorn.conf.py's defaults
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="", help="gunicorn worker class (default: gunicorn.conf.py's)")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--shops", type=int, default=200)
    parser.add_argument("--members", type=int, default=12000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run (no re-seeding)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated phases to run (pgbench,closed,open,floor,plainfloor,outbox); default all",
    )
    args = parser.parse_args()
    phases = set(args.only.split(",")) if args.only else {"pgbench", "closed", "open", "floor", "plainfloor", "outbox"}

    if not args.reuse:
        setup_database()
    else:  # the code may have moved on since the database was made
        harness.migrate(ENV)
    flush_redis()
    harness.django_setup(ENV)
    if not args.reuse:
        seed(args.shops, args.members)
    info = seeded()
    from redemptions.models import Redemption

    shift = 1 + Redemption.objects.count() // 200  # every run (200 confirms at least) meets each member at another shop
    work = Work(info["merchants"], shift)
    summary: dict = {"config": vars(args), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()}

    def record(phase: str, result: dict) -> None:  # each phase's figures as soon as it ends (stderr)
        summary[phase] = result
        print(f"-- {phase}: {json.dumps(result, ensure_ascii=False)}", file=sys.stderr, flush=True)

    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()

    if "pgbench" in phases:
        summary["idle_before_pgbench"] = quiet()
        bare = run_pgbench(info, args.clients, args.seconds)
        record("pgbench", {"tps": bare["tps"], "latency_avg_ms": bare["latency_avg_ms"]})
    if {"closed", "open"} & phases:
        with Server(args) as pid:
            if "closed" in phases:
                summary["idle_before_closed"] = quiet()
                record("closed", load(args, info, work, rate=0, seconds=args.seconds, pid=pid))
            if "open" in phases:
                summary["idle_before_open"] = quiet()
                record("open", load(args, info, work, rate=args.rate, seconds=args.open_seconds, pid=pid))
    if "floor" in phases:
        work.used = 0  # the floors redeem nothing: their bodies may use every member again
        floor_env = {"DJANGO_SETTINGS_MODULE": "bench.redemption.floor_settings"}
        with Server(args, floor_env) as pid:
            summary["idle_before_floor"] = quiet()
            record("floor", load(args, info, work, rate=0, seconds=args.seconds, pid=pid))
    if "plainfloor" in phases:  # the same without DRF (floor.py): what leaving DRF would save
        work.used = 0
        plain_env = {"DJANGO_SETTINGS_MODULE": "bench.redemption.floor_settings", "BENCH_FLOOR": "plain"}
        with Server(args, plain_env) as pid:
            summary["idle_before_plainfloor"] = quiet()
            record("plainfloor", load(args, info, work, rate=0, seconds=args.seconds, pid=pid))
    if "outbox" in phases:
        summary["idle_before_outbox"] = quiet()
        record("outbox_worker", outbox_worker())
    summary["uptime_start"] = uptime_start
    summary["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    if "pgbench" in summary and "closed" in summary:
        summary["closed_share_of_pgbench"] = round(summary["closed"]["per_second"] / summary["pgbench"]["tps"], 3)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if "pgbench" in phases:
        print("\n-- pgbench script\n" + bare["script"])


if __name__ == "__main__":
    main()
