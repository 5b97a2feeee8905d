"""A RedCard deployment on this machine for the system test: its own PostgreSQL cluster (a primary and a streaming
replica made with ``pg_basebackup -R``, for the dashboards and the overview) and Redis on loopback ports of their
own (the machine's PostgreSQL and Redis are never touched), two gunicorn web nodes, one Celery worker and one
beat, all under production settings (tests/system/settings.py) with keys generated here.

PostgreSQL refuses to run as root: when the test runs as root, ``initdb`` and ``pg_ctl`` run as the
``postgres`` system user (``runuser``) on a data folder it owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.gunicorn import ROOT, free_port, gunicorn_env, gunicorn_start

PG_BIN = Path(os.environ.get("REDCARD_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "redcard"


def wait_until(predicate, *, timeout: float, step: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(step)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.pg_data = root / "pg"
        self.pg_port = free_port()
        self.replica_data = root / "pg-replica"
        self.replica_port = free_port()
        self.redis_port = free_port()
        self.web_ports = [free_port(), free_port()]
        self.processes: dict[str, subprocess.Popen] = {}
        self.as_root = os.geteuid() == 0
        # A web node's production environment (tests/gunicorn.py), on this cluster's PostgreSQL and Redis.
        self.env = {
            **{k: v for k, v in gunicorn_env(0).items() if not k.startswith(("MEMBERS_", "CELERY_", "GUNICORN_"))},
            "DJANGO_SETTINGS_MODULE": "tests.system.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/{DATABASE}",
            # The dashboards and the overview read the replica (core.replica); started by replica_init().
            "DATABASE_REPLICA_URL": f"postgres://postgres@127.0.0.1:{self.replica_port}/{DATABASE}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "REDCARD_CODE_KEY_ID": "k",
            "MEDIA_ROOT": str(root / "media"),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_FORMAT": "plain",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "4",
            # A killed worker's unacknowledged task comes back after this (production: 3900 s, above the
            # longest task's time limit).
            "CELERY_VISIBILITY_TIMEOUT": "4",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",  # a killed worker's task is looked for every second
            "PYTHONUNBUFFERED": "1",
        }

    # --- PostgreSQL -------------------------------------------------------------------------------------
    def _pg(self, *args: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def pg_init(self) -> None:
        self.pg_data.mkdir()
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.pg_data, "postgres")
        self._pg(
            "initdb", "-D", str(self.pg_data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"
        )
        self.pg_start()
        with psycopg.connect(self.pg_url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def pg_start(self) -> None:
        self._pg_ctl_start(self.pg_data, self.pg_port)

    def _pg_ctl_start(self, data: Path, port: int) -> None:
        options = (
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start")

    def replica_init(self) -> None:
        """A streaming replica of the primary: ``pg_basebackup -R`` (a copy of the primary plus the standby
        signal and ``primary_conninfo``), started on its own port; returns once it has replayed everything the
        primary had written."""
        self.replica_data.mkdir(mode=0o700)
        if self.as_root:
            shutil.chown(self.replica_data, "postgres")
        self._pg(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
            "-D", str(self.replica_data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        self.replica_start()

    def replica_start(self) -> None:
        self._pg_ctl_start(self.replica_data, self.replica_port)
        self.replica_caught_up()

    def replica_stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.replica_data), "-m", "immediate", "-w", "stop")

    def replica_sql(self, query: str, params: Any = None) -> list[tuple]:
        url = f"postgres://postgres@127.0.0.1:{self.replica_port}/{DATABASE}"
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def replica_caught_up(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed the primary's WAL up to now."""
        target = self.scalar("SELECT pg_current_wal_lsn()::text")

        def replayed() -> bool:
            try:
                rows = self.replica_sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            except psycopg.OperationalError:
                return False
            return bool(rows[0][0])

        wait_until(replayed, timeout=timeout, what="the replica replayed the primary's WAL")

    def pg_restart(self) -> None:
        """A fast shutdown (open sessions are ended, in-flight transactions roll back) and a start."""
        self._pg("pg_ctl", "-D", str(self.pg_data), "-m", "fast", "-w", "stop")
        self.pg_start()

    def pg_url(self, database: str = DATABASE) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/{database}"

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        with psycopg.connect(self.pg_url(), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def scalar(self, query: str, params: Any = None) -> Any:
        return self.sql(query, params)[0][0]

    # --- Redis ------------------------------------------------------------------------------------------
    def redis_start(self) -> None:
        self.spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        wait_until(self._redis_answers, timeout=10, what="redis")

    def _redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def redis_stop(self) -> None:
        self.stop("redis", sig=signal.SIGKILL)

    # --- RedCard ----------------------------------------------------------------------------------------
    def python(self, *args: str, timeout: float = 300) -> str:
        """Run ``python ARGS`` in the deployment's environment; its output (stdout)."""
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def manage(self, *args: str) -> str:
        return self.python("manage.py", *args)

    def seed(self, *args: str) -> Any:
        return json.loads(self.python("-m", "tests.system.seed", *args).strip().splitlines()[-1])

    def web_start(self, index: int) -> None:
        log = (self.logs / f"web{index}.log").open("a")
        env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.web_ports[index]}"}
        self.processes[f"web{index}"] = gunicorn_start(env, log, start_new_session=True)

    def web_ready(self, index: int) -> bool:
        try:
            return requests.get(f"{self.web_url(index)}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[index]}"

    def worker_start(self, name: str = "worker") -> None:
        self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "redcard",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{name}-{secrets.token_hex(3)}@%h",
            ],
        )

    def beat_start(self) -> None:
        self.spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "redcard",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(self.root / "beat-schedule"),
            ],
        )

    # --- processes --------------------------------------------------------------------------------------
    def spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("a")
        process = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def stop(self, name: str, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
        """Signal the process and everything it started (its own session), then wait for it."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log(self, name: str, tail: int | None = 3000) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name, sig=signal.SIGKILL)
        for data in (self.replica_data, self.pg_data):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
