"""Benchmark: 5,000 open scanners polling the claim feed every 2 s, against gunicorn + PostgreSQL + Redis.

    .venv/bin/python bench/claim_feed/run.py [--scanners 5000] [--shops 500] [--seconds 30] [--workers 2]
                                             [--warmup 10] [--threads 8] [--sockets 64] [--claims-per-s 1] [--reuse]

1. A scratch database ``redcard_bench_claim_feed`` (dropped first, unless ``--reuse``) with ``--shops`` listed
   shops, ``--scanners`` staff (spread over the shops, each with a scanner page open) and 300 members with a card.
2. gunicorn on loopback (production settings, ``--workers`` × ``--threads``), the cache on the local Redis
   (database 13, flushed first), as in production.
3. For each mode, ``scanners.mjs`` (Node, keep-alive, at most ``--sockets`` connections) runs every scanner as the
   page does: one poll, the next 2 s after the answer, for ``--seconds`` after ``--warmup`` seconds, while this process
   files ``--claims-per-s`` member claims at random shops (each one changes that shop's feed):

   - ``feed``: the signed feed URL with If-None-Match (this issue's feed: 304 from Redis when nothing is new);
   - ``legacy``: the session-authenticated list ``/api/v1/redemptions/claims/pending/`` (a database read each
     poll, as before);
   - ``livez``: the same polling of ``/livez`` (no database, no Redis): the floor of the stack.

   Measured: polls/s answered (5,000 scanners at 2 s would ask 2,500/s if every answer were instant), status
   counts, p50/p99 latency, PostgreSQL transactions of the database per second (each autocommit read is one)
   and gunicorn's CPU seconds per 1,000 polls.

Prints one JSON line per mode; the figures of the last run are in README.md. Bounded: three loads of
``--warmup`` + ``--seconds`` each; everything started is stopped.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import ROOT

HERE = Path(__file__).resolve().parent
DB_NAME = "redcard_bench_claim_feed"
PORT = 8766
REDIS_DB = 13
ENV = harness.environment(DB_NAME, production=True, REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}")
ENV["REDCARD_MEDIA_ON_FILESYSTEM"] = "1"


def seed(shops: int, scanners: int) -> None:
    from django.contrib.auth.hashers import make_password

    from core.models import User
    from merchants.models import MerchantStaff
    from tests.factories.merchants import MerchantFactory

    merchants = [MerchantFactory(daily_capacity=10_000_000) for _ in range(shops)]
    password = make_password(None)
    staff = User.objects.bulk_create(
        [User(email=f"scanner{n}@redcard.local", display_name=f"店员{n}", password=password) for n in range(scanners)],
        batch_size=2000,
    )
    MerchantStaff.objects.bulk_create(
        [
            MerchantStaff(merchant=merchants[n % shops], user=u, role=MerchantStaff.Role.STAFF)
            for n, u in enumerate(staff)
        ],
        batch_size=2000,
    )
    harness.members_with_cards("member", 300)


def scanner_pages(path: Path) -> int:
    """What each open scanner page holds: its feed URL, and (for the legacy list) a session (bulk inserted)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from merchants.models import MerchantStaff
    from redemptions.counter.feed import feed_token

    pages, sessions = [], []
    expires = timezone.now() + timedelta(days=1)
    for row in MerchantStaff.objects.select_related("user", "merchant").filter(user__email__startswith="scanner"):
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(row.user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: row.user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=SessionStore().encode(data), expire_date=expires))
        token = feed_token(merchant_public_id=row.merchant.public_id, staff_id=row.user.pk)
        pages.append(
            {
                "feed": "/api/v1/redemptions/claims/feed/",
                "token": token,
                "legacy": f"/api/v1/redemptions/claims/pending/?merchant={row.merchant.public_id}",
                "cookie": f"{settings.SESSION_COOKIE_NAME}={key}",
            }
        )
    Session.objects.bulk_create(sessions, batch_size=2000)
    path.write_text(json.dumps(pages))
    return len(pages)


def primed(pages_file: Path) -> Path:
    """The scanners as pages open for a while: each holds its shop's current ETag (as a page's earlier full answer
    gave it), so the measured window is the steady state, not 5,000 first loads."""
    from redemptions.counter import feed
    from redemptions.counter.selectors import merchant_by_public_id, pending_claims

    pages = json.loads(pages_file.read_text())
    tags: dict[str, str] = {}
    for page in pages:
        shop = page["legacy"].rsplit("=", 1)[1]
        if shop not in tags:
            version = feed.feed_version(merchant=shop)
            expiries = [c.expires_at for c in pending_claims(merchant=merchant_by_public_id(public_id=shop))]
            tags[shop] = feed.tag_for(version=version or "", expiries=expiries).header()
        page["etag"] = tags[shop]
    out = pages_file.with_name("primed.json")
    out.write_text(json.dumps(pages))
    return out


def in_process(pages_file: Path, polls: int = 400) -> dict:
    """CPU and SQL statements per poll through the whole stack in this process (Django's test client): figures
    that the machine's load hardly moves, unlike the server's latency."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    page = json.loads(pages_file.read_text())[0]
    client = Client(HTTP_HOST="127.0.0.1")
    client.defaults["HTTP_X_CLAIM_FEED_TOKEN"] = page["token"]
    first = client.get(page["feed"])
    etag = first["ETag"]
    cookie_name, cookie_value = page["cookie"].split("=", 1)
    client.cookies[cookie_name] = cookie_value
    kinds = {
        "feed_304": lambda: client.get(page["feed"], HTTP_IF_NONE_MATCH=etag),
        "feed_full": lambda: client.get(page["feed"]),
        "legacy": lambda: client.get(page["legacy"]),
        "livez": lambda: client.get("/livez"),
    }
    figures = {}
    for name, poll in kinds.items():
        poll()
        cpu = time.process_time()
        with CaptureQueriesContext(connection) as queries:
            statuses = {poll().status_code for _ in range(polls)}
        figures[name] = {
            "status": sorted(statuses),
            "cpu_ms_per_poll": round((time.process_time() - cpu) / polls * 1000, 2),
            "queries_per_poll": round(len(queries) / polls, 2),
        }
    return figures


def database_transactions() -> int:
    import psycopg

    with psycopg.connect(f"{harness.SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [DB_NAME]
        ).fetchone()
    return int(row[0]) if row else 0


def cpu_seconds(master: int) -> float:
    """User + system CPU of gunicorn's master and workers (clock ticks in /proc)."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout.split()
    for pid in [str(master), *children]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def claims_during(stop: threading.Event, per_second: float, counts: dict) -> None:
    """Members claim at random shops while the scanners poll (each claim changes its shop's feed)."""
    from core.models import User
    from merchants.models import Merchant
    from redemptions.counter import services

    members = list(User.objects.filter(email__startswith="member"))
    shops = list(Merchant.objects.select_related("city", "offer"))
    while not stop.wait(1 / per_second):
        try:
            services.claim_create(member=random.choice(members), merchant=random.choice(shops), bill="88")
            counts["claims"] += 1
        except Exception as exc:  # a refusal (the member's limit) is no claim; the load goes on
            counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scanners", type=int, default=5000)
    parser.add_argument("--shops", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sockets", type=int, default=64)
    parser.add_argument("--claims-per-s", type=float, default=1.0)
    parser.add_argument("--modes", default="feed,legacy,livez")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()

    if not args.reuse:
        harness.recreate_database(ENV, DB_NAME)
    harness.sh(ENV, ["redis-cli", "-n", str(REDIS_DB), "flushdb"], stdout=subprocess.DEVNULL)
    harness.django_setup(ENV)
    if not args.reuse:
        harness.timed("seed", seed, args.shops, args.scanners)
    pages_file = Path(tempfile.gettempdir()) / DB_NAME / "scanners.json"
    pages_file.parent.mkdir(exist_ok=True)
    harness.timed("scanner pages", scanner_pages, pages_file)  # this run's SECRET_KEY signs tokens and sessions

    server_env = {
        **ENV,
        "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "GUNICORN_MAX_REQUESTS": "0",
    }
    log = (pages_file.parent / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "redcard.wsgi"],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{PORT}"
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/livez", timeout=2).close()  # noqa: S310 (loopback)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print(json.dumps({"in_process": in_process(pages_file)}), flush=True)
        for mode in args.modes.split(","):
            scanners_file = primed(pages_file) if mode == "feed" else pages_file
            counts = {"claims": 0}
            stop = threading.Event()
            filer = threading.Thread(target=claims_during, args=(stop, args.claims_per_s, counts), daemon=True)
            xacts, cpu, started = database_transactions(), cpu_seconds(server.pid), time.monotonic()
            filer.start()
            load = subprocess.run(
                [
                    "node",
                    str(HERE / "scanners.mjs"),
                    str(scanners_file),
                    base,
                    mode,
                    str(args.seconds),
                    "5",
                    str(args.sockets),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=args.warmup + args.seconds + 60,
            )
            stop.set()
            filer.join()
            elapsed = time.monotonic() - started
            result = json.loads(load.stdout.strip().splitlines()[-1])
            db = database_transactions() - xacts - counts["claims"] * 3  # less the claims' own writes (approx.)
            result |= {
                "db_transactions_per_s": round(db / elapsed, 1),
                "db_transactions_per_poll": round(db / elapsed / max(result["polls_per_s"], 0.1), 2),
                "gunicorn_cpu_s_per_1000_polls": round(
                    (cpu_seconds(server.pid) - cpu) / max(result["polls_per_s"] * elapsed, 1) * 1000, 2
                ),
                "claims_filed": counts,
            }
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"load_average": Path("/proc/loadavg").read_text().split()[:3]}))


if __name__ == "__main__":
    main()
