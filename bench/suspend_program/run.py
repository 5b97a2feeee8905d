"""Benchmark: ``manage.py suspend_program`` over N paid subscriptions on PostgreSQL.

    .venv/bin/python bench/suspend_program/run.py --count 100000 [--refund full|prorated]

Creates a scratch database (``redcard_bench_members`` on 127.0.0.1:5432, dropped first),
migrates it, writes N members each with a paid annual subscription, its payment, its period
and the sandbox gateway's order (bulk inserts, as if they had paid), then runs the command
in a child process and reports wall time, peak RSS (getrusage of the child) and RSS samples
taken every 0.5 s from /proc (flat memory = the samples do not grow with the rows processed).
Celery runs as in production (a Redis broker, ``redis://127.0.0.1:6379/12``): the notices are
written in-app in each batch's transaction and their e-mails are queued for the workers, which
this benchmark does not run (the queue is purged at the end). ``--eager`` runs the e-mail tasks
inline instead (the embedded default), with Django's dummy mail backend.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "redcard_bench_members"
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "redcard.settings.base",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    "LOG_LEVEL": "WARNING",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/12",
    "CELERY_TASK_ALWAYS_EAGER": "false",
}


def recreate_database() -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=ENV, check=True)


def seed(count: int) -> None:
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.utils import timezone

    from core.models import User
    from members.models import Payment, Plan, SandboxOrder, Subscription, SubscriptionPeriod

    plan = Plan.objects.get(code="annual")
    now = timezone.now()
    step = 5000
    for offset in range(0, count, step):
        n = min(step, count - offset)
        users = User.objects.bulk_create(
            [
                User(email=f"bench{offset + i}@example.com", password="!", display_name=f"会员{offset + i}")
                for i in range(n)
            ]
        )
        start = now - timedelta(days=100)
        subs = Subscription.objects.bulk_create(
            [
                Subscription(
                    user=u, plan=plan, state="active", period_start=start, period_end=start + timedelta(days=365)
                )
                for u in users
            ]
        )
        payments = Payment.objects.bulk_create(
            [
                Payment(
                    subscription=s,
                    provider="sandbox",
                    amount_fen=plan.price_fen,
                    state="paid",
                    provider_txn_id=f"SBBENCH{s.pk}",
                    paid_at=start,
                )
                for s in subs
            ]
        )
        SubscriptionPeriod.objects.bulk_create(
            [
                SubscriptionPeriod(subscription=s, kind="paid", start=s.period_start, end=s.period_end, payment=p)
                for s, p in zip(subs, payments, strict=True)
            ]
        )
        SandboxOrder.objects.bulk_create(
            [
                SandboxOrder(
                    out_trade_no=str(p.public_id),
                    amount_fen=p.amount_fen,
                    description="bench",
                    status="SUCCESS",
                    transaction_id=p.provider_txn_id,
                    paid_at=start,
                )
                for p in payments
            ]
        )
        print(f"seeded {offset + n:,}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have done on a live database


def sample_rss(pid: int, samples: list[tuple[float, int]], started: float) -> None:
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                samples.append((time.monotonic() - started, int(line.split()[1])))
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--refund", default="prorated", choices=["full", "prorated"])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--eager", action="store_true", help="Run the e-mail tasks inline (embedded default).")
    args = parser.parse_args()
    if args.eager:
        ENV["CELERY_TASK_ALWAYS_EAGER"] = "true"

    t0 = time.monotonic()
    recreate_database()
    seed_proc = subprocess.run(
        [sys.executable, __file__, "--seed-only", str(args.count)], cwd=ROOT, env=ENV, check=True
    )
    assert seed_proc.returncode == 0
    print(f"setup (migrate + seed {args.count:,}): {time.monotonic() - t0:.1f}s")

    effective = time.strftime("%Y-%m-%d")
    command = [
        sys.executable,
        "manage.py",
        "suspend_program",
        "--effective-date",
        effective,
        "--refund",
        args.refund,
        "--batch-size",
        str(args.batch_size),
    ]
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=sample_rss, args=(child.pid, samples, started), daemon=True)
    sampler.start()
    out, _ = child.communicate()
    elapsed = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(out.strip())
    print(f"suspend_program over {args.count:,} paid subscriptions ({args.refund}): {elapsed:.1f}s wall")
    print(f"peak RSS of the command: {peak_kb / 1024:.0f} MiB (getrusage; includes the seeding child)")
    if samples:
        quarter = [samples[int(len(samples) * q)][1] / 1024 for q in (0.1, 0.25, 0.5, 0.75)] + [samples[-1][1] / 1024]
        print("RSS samples at 10/25/50/75/100% of the run (MiB): " + ", ".join(f"{v:.0f}" for v in quarter))
        print(f"max sampled RSS: {max(s for _, s in samples) / 1024:.0f} MiB over {len(samples)} samples")
    import redis

    broker = redis.Redis.from_url(ENV["CELERY_BROKER_URL"])
    print(f"e-mail tasks queued for the workers: {broker.llen('celery')}")
    broker.delete("celery")  # only our queue in our own database (no worker runs here)
    if child.returncode != 0:
        sys.exit(child.returncode)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-only":
        seed(int(sys.argv[2]))
    else:
        main()
