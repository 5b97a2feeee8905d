"""Benchmark: ``manage.py suspend_program`` over N paid subscriptions on PostgreSQL.

    .venv/bin/python bench/suspend_program/run.py --count 100000 [--refund full|prorated]

Creates a scratch database (``redcard_bench_members`` on 127.0.0.1:5432, dropped first),
migrates it, writes N members each with a paid annual subscription, its payment, its period
and the sandbox gateway's order (set-based SQL, as if they had paid), then runs the command
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import ROOT

DB_NAME = "redcard_bench_members"
ENV = harness.environment(
    DB_NAME,
    EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    CELERY_BROKER_URL="redis://127.0.0.1:6379/12",
    CELERY_RESULT_BACKEND="redis://127.0.0.1:6379/12",
    CELERY_TASK_ALWAYS_EAGER="false",
)


RESET_SQL = [
    "TRUNCATE members_refund, members_suspensionrefund, members_subscriptionperiod, members_paymentnotification,"
    " members_sandboxevent, members_sandboxorder, members_payment, members_subscription, core_notification,"
    " core_auditentry CASCADE",
    "DELETE FROM core_user WHERE email LIKE 'bench%%'",
    "UPDATE members_programme SET sales_open = true, suspended_at = NULL, effective_date = NULL,"
    " effective_at = NULL, refund_mode = '', last_report = NULL",
]


def reset_database() -> None:
    """Keep the migrated database; empty what the last run wrote (``--reuse``)."""
    import psycopg

    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", autocommit=True) as conn:
        for statement in RESET_SQL:
            conn.execute(statement)


SEED_SQL = [
    # N members
    """INSERT INTO core_user (password, is_superuser, first_name, last_name, is_staff, is_active, date_joined,
                              public_id, email, display_name, phone, language)
       SELECT '!', false, '', '', false, true, now(), gen_random_uuid(), 'bench' || g || '@example.com',
              '会员' || g, '', 'zh-hans'
       FROM generate_series(1, %(count)s) AS g""",
    # each with an annual card bought 100 days ago
    """INSERT INTO members_subscription (public_id, state, is_trial, period_start, period_end, auto_renew,
                                         savings_fen, created_at, plan_id, user_id)
       SELECT gen_random_uuid(), 'active', false, %(start)s, %(start)s + interval '365 days', true, 0, now(),
              (SELECT id FROM members_plan WHERE code = 'annual'), u.id
       FROM core_user u WHERE u.email LIKE 'bench%%'""",
    # its payment (paid through the sandbox)
    """INSERT INTO members_payment (public_id, kind, provider, amount_fen, currency, state, provider_txn_id,
                                    checkout_url, refunded_fen, flag_reason, created_at, paid_at, subscription_id)
       SELECT gen_random_uuid(), 'initial', 'sandbox', 16800, 'CNY', 'paid', 'SBBENCH' || s.id, '', 0, '',
              %(start)s, %(start)s, s.id
       FROM members_subscription s""",
    # the period it bought
    """INSERT INTO members_subscriptionperiod (kind, start, "end", savings_fen, payment_id, subscription_id)
       SELECT 'paid', s.period_start, s.period_end, 0, p.id, s.id
       FROM members_subscription s JOIN members_payment p ON p.subscription_id = s.id""",
    # and the gateway's record of the order
    """INSERT INTO members_sandboxorder (public_id, out_trade_no, amount_fen, currency, description, return_url,
                                         status, transaction_id, refunded_fen, created_at, paid_at)
       SELECT gen_random_uuid(), p.public_id::text, p.amount_fen, 'CNY', 'bench', '', 'SUCCESS',
              p.provider_txn_id, 0, p.created_at, p.paid_at
       FROM members_payment p""",
    "ANALYZE",  # as autovacuum would have done on a live database
]


def seed(count: int) -> None:
    """Set-based inserts (seconds for 100,000 members instead of minutes through the ORM)."""
    from datetime import UTC, datetime

    import psycopg

    start = datetime.now(UTC) - timedelta(days=100)
    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", autocommit=True) as conn:
        for statement in SEED_SQL:
            conn.execute(statement, {"count": count, "start": start})


def backend_cpu_seconds(backends: dict[int, float]) -> None:
    """CPU seconds used so far by each PostgreSQL backend serving the bench database (same host)."""
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DB_NAME]
            )
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        backends[pid] = (int(fields[11]) + int(fields[12])) / ticks


def sample_rss(pid: int, samples: list[tuple[float, int]], started: float, backends: dict[int, float]) -> None:
    status = Path(f"/proc/{pid}/status")
    while True:
        backend_cpu_seconds(backends)
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
    parser.add_argument("--reuse", action="store_true", help="Reuse the migrated database of an earlier run.")
    args = parser.parse_args()
    if args.eager:
        ENV["CELERY_TASK_ALWAYS_EAGER"] = "true"

    t0 = time.monotonic()
    if args.reuse:
        reset_database()
    else:
        harness.recreate_database(ENV, DB_NAME)
    seed(args.count)
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
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    backends: dict[int, float] = {}
    sampler = threading.Thread(target=sample_rss, args=(child.pid, samples, started, backends), daemon=True)
    sampler.start()
    out, _ = child.communicate()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(out.strip())
    print(f"suspend_program over {args.count:,} paid subscriptions ({args.refund}): {elapsed:.1f}s wall")
    print(f"CPU time of the command process: {cpu:.1f}s")
    print(f"CPU time of its PostgreSQL backend(s): {sum(backends.values()):.1f}s (sampled every 0.5 s)")
    print(f"load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"peak RSS of the command: {after.ru_maxrss / 1024:.0f} MiB (getrusage: the largest child, incl. migrate)")
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
    main()
