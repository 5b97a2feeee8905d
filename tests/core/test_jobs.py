"""Issue 18, part 4: e-mail through a task with retries, time limits and late acknowledgement, exactly one
beat (a Redis lock)."""

from __future__ import annotations

import os
import smtplib
import uuid

import pytest
from django.core import mail

from core import beat
from core.models import Notification
from core.services import notify
from tests.factories import UserFactory


class FlakyBackend:
    """An SMTP server that refuses the first ``failures`` messages (a real backend otherwise: locmem)."""

    failures = 0
    attempts = 0

    def __init__(self, *args, **kwargs):
        from django.core.mail.backends.locmem import EmailBackend

        self.inner = EmailBackend(*args, **kwargs)

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        FlakyBackend.attempts += 1
        if FlakyBackend.attempts <= FlakyBackend.failures:
            raise smtplib.SMTPServerDisconnected("try again")
        return self.inner.send_messages(messages)


@pytest.mark.django_db
def test_a_notice_is_mailed_by_a_task_that_retries_while_the_server_refuses(
    settings, django_capture_on_commit_callbacks
):
    """The web request only queues the mail; the task asks to be retried while the server refuses (a worker
    runs it again with backoff), then sends once it accepts."""
    from celery.exceptions import Retry

    from core.tasks import email_notice

    assert smtplib.SMTPException in email_notice.autoretry_for and email_notice.max_retries >= 5
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures, FlakyBackend.attempts = 1, 0
    person = UserFactory(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        notice = notify(user=person, kind="demo", title="Hello", body="text")  # refused: logged, notice kept
    assert FlakyBackend.attempts == 1 and mail.outbox == []
    FlakyBackend.failures, FlakyBackend.attempts = 1, 0
    with pytest.raises(Retry):
        email_notice.apply(args=[notice.pk], throw=True)
    assert email_notice.apply(args=[notice.pk]).get() is True  # the retry: the server accepts now
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [person.email]
    assert Notification.objects.filter(user=person).count() == 1


def test_tasks_have_time_limits_and_late_acknowledgement():
    from core.tasks import email_notice
    from members.tasks import send_notice_emails, suspend_programme
    from redcard.celery import app

    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert suspend_programme.time_limit == 3600
    assert email_notice.acks_late is False and send_notice_emails.acks_late is False  # a resend would mail twice
    assert app.conf.beat_scheduler == "core.beat:LockedScheduler"


@pytest.mark.redis
def test_only_one_beat_sends(tmp_path, monkeypatch):
    """Two schedulers on one Redis: the first holds the lock and sends, the second waits; when the first
    stops, the second takes over."""
    import redis

    from redcard.celery import app

    url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")
    monkeypatch.setattr(beat, "LOCK_KEY", f"redcard:test:beat:{uuid.uuid4().hex}")
    client = redis.Redis.from_url(url)
    saved = app.conf.broker_url
    app.conf.broker_url = url
    ran: list[str] = []

    def fake_super_tick(self, *args, **kwargs):  # the parent's tick sends due entries: count who got there
        ran.append(self.lock_token)
        return 1.0

    monkeypatch.setattr(beat.PersistentScheduler, "tick", fake_super_tick)
    try:
        first = beat.LockedScheduler(app=app, schedule_filename=str(tmp_path / "a"), lazy=True)
        second = beat.LockedScheduler(app=app, schedule_filename=str(tmp_path / "b"), lazy=True)
        for _ in range(3):
            first.tick()
            assert second.tick() == beat.WAIT_SECONDS
        assert ran == [first.lock_token] * 3
        assert client.pttl(beat.LOCK_KEY) > 0
        first.release_lock()
        second.tick()
        assert ran[-1] == second.lock_token
        assert first.tick() == beat.WAIT_SECONDS
    finally:
        app.conf.broker_url = saved
        client.delete(beat.LOCK_KEY)


def test_a_beat_that_cannot_reach_redis_sends_nothing(tmp_path, monkeypatch):
    from redcard.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(beat.PersistentScheduler, "tick", lambda self, *a, **k: pytest.fail("sent without lock"))
    try:
        scheduler = beat.LockedScheduler(app=app, schedule_filename=str(tmp_path / "c"), lazy=True)
        assert scheduler.tick() == beat.WAIT_SECONDS
    finally:
        app.conf.broker_url = saved
