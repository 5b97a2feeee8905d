"""The outbox under real concurrency: processors in threads and a worker process killed mid-batch.

Every redemption is credited, notified and webhooked exactly once whatever dies or runs twice: a row's side
effects and its ``done_at`` commit together, and rows are taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter as Tally
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from core.models import Notification, WebhookEndpoint, WebhookEvent
from merchants.models import PartnerGrant
from redemptions.counter import outbox, services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter
from redemptions.models import AttributionCredit, Redemption, RedemptionOutbox
from tests.factories import PartnerApplicationFactory
from tests.factories.attribution import NoteFactory, touch
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of
from tests.redemptions.test_outbox import poison

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def pending_redemptions(count: int) -> list[Redemption]:
    """``count`` confirmed redemptions at one shop (a note touched by each member, a partner listening),
    their outbox rows left for a worker that is not running."""
    merchant = shop(daily_capacity=count + 10)
    pos = PartnerApplicationFactory()
    PartnerGrant.objects.create(merchant=merchant, application=pos, scopes="redemptions:write")
    WebhookEndpoint.objects.create(application=pos, url="http://127.0.0.1:9/hooks")
    note = NoteFactory(tags=[merchant])
    merchant = merchant_by_public_id(public_id=merchant.public_id)
    counter = Counter(staff=staff_of(merchant))
    made = []
    for _ in range(count):
        member = member_with_card()
        touch(note, member)
        made.append(services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=code_of(member).qr))
    assert RedemptionOutbox.objects.filter(done_at__isnull=True).count() == count
    return made


def assert_exactly_once(redemptions: list[Redemption]) -> None:
    ids = [r.pk for r in redemptions]
    credits = Tally(AttributionCredit.objects.filter(redemption_id__in=ids).values_list("redemption_id", flat=True))
    assert credits == dict.fromkeys(ids, 3)  # one note, three attribution models
    members = [r.member_id for r in redemptions]
    notices = Tally(
        Notification.objects.filter(user_id__in=members, kind="redemptions.confirmed").values_list("user_id", flat=True)
    )
    assert notices == dict.fromkeys(members, 1)
    events = Tally(
        WebhookEvent.objects.filter(type="redemption.confirmed").values_list("payload__data__redemption", flat=True)
    )
    assert events == {str(r.public_id): 1 for r in redemptions}
    assert not RedemptionOutbox.objects.filter(done_at__isnull=True).exists()


def test_four_processors_at_once_do_each_row_once(tasks_to_worker):
    redemptions = pending_redemptions(40)
    assert sum(drained_at_once(4, batch=5)) == 40
    assert_exactly_once(redemptions)


def drained_at_once(processors: int, **catch_up: object) -> list[int]:
    """``processors`` threads start ``outbox_catch_up(**catch_up)`` together; what each did."""
    barrier = threading.Barrier(processors)
    done: list[int] = []

    def drain():
        try:
            barrier.wait()
            done.append(outbox.outbox_catch_up(**catch_up))
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(processors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return done


def test_four_processors_with_a_poisoned_row_do_every_good_row_once_and_count_the_bad_one_once(
    tasks_to_worker, monkeypatch
):
    """A row whose side effects raise sends its batch to the one-by-one path under concurrency too: the good
    rows of that batch and of every other are done once, the bad one fails once (the drain then skips it) and
    waits, pending, for the catch-up."""
    redemptions = pending_redemptions(40)
    bad = redemptions[17]
    poison(monkeypatch, bad)
    assert sum(drained_at_once(4, batch=5, retry=False)) == 39
    row = RedemptionOutbox.objects.get(redemption=bad)
    assert row.done_at is None and row.attempts == 1 and "poisoned row" in row.last_error
    assert not AttributionCredit.objects.filter(redemption=bad).exists()
    monkeypatch.undo()
    assert outbox.outbox_catch_up() == 1
    assert_exactly_once(redemptions)


def _victim_backends(name: str, *, waiting: bool = False) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND (NOT %s OR wait_event_type = 'Lock')",
            [name, waiting],
        )
        return cursor.fetchone()[0]


def _worker(name: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redcard.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}?application_name={name}",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "redemptions_outbox", "--batch", "10"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_killed_mid_batch_leaves_nothing_half_done_and_the_next_one_does_it_all_once(tasks_to_worker):
    """A real worker process is stopped with SIGKILL while its first batch is open (held at the batch's one
    notice INSERT, after its credits and webhooks, by a table lock this test takes, so the moment is certain,
    not timed). None of that batch's credits, notices or webhooks survive; the restarted worker does every row
    exactly once."""
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    redemptions = pending_redemptions(30)
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    try:
        with holder.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Notification._meta.db_table} IN SHARE MODE")
        victim = _worker("outbox_victim")
        deadline = time.monotonic() + 60
        while not _victim_backends("outbox_victim", waiting=True):
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the worker never reached its first notice"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        holder.rollback()
        holder.close()
    deadline = time.monotonic() + 60
    while _victim_backends("outbox_victim"):  # PostgreSQL ends the orphaned session and rolls it back
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ids = [r.pk for r in redemptions]
    assert not AttributionCredit.objects.filter(redemption_id__in=ids).exists()  # nothing of the open batch
    assert not Notification.objects.filter(kind="redemptions.confirmed").exists()
    assert not WebhookEvent.objects.exists()
    assert RedemptionOutbox.objects.filter(done_at__isnull=True).count() == 30

    restarted = _worker("outbox_restarted")
    out, err = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, err
    assert out.strip() == "30 outbox rows processed"
    assert_exactly_once(redemptions)
