"""Health, audit trail, notices, CSP and the real Celery worker round trip."""

import pytest
from django.core import mail

from core.models import AuditEntry, Notification
from core.services import audit_history, audit_record, notify, notify_many
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_cache_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "inline"}


def test_healthz_reports_a_broken_broker_as_degraded(client, settings):
    from redcard.celery import app

    old = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.task_always_eager, app.conf.broker_url = old
    assert response.status_code == 200  # the counter works without the broker: degraded, still serving
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"].startswith("error")
    assert response.json()["database"] == "ok"


def test_audit_record_keeps_actor_action_reason_and_changes():
    actor, subject = UserFactory(), UserFactory()
    audit_record(actor=actor, action="user.demo", obj=subject, reason="测试", before={"a": 1}, after={"a": 2})
    audit_record(actor="system:job", action="user.demo2", obj=subject)
    entries = list(audit_history(subject))
    assert [e.action for e in entries] == ["user.demo2", "user.demo"]
    assert entries[1].actor == actor and entries[1].reason == "测试"
    assert entries[1].before == {"a": 1} and entries[1].after == {"a": 2}
    assert entries[0].actor is None and entries[0].actor_label == "system:job"


def test_audit_entries_are_read_only_in_admin(admin_client):
    subject = UserFactory()
    entry = audit_record(actor=None, action="user.demo", obj=subject)
    assert admin_client.get("/admin/core/auditentry/").status_code == 200
    assert admin_client.get(f"/admin/core/auditentry/{entry.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    page = admin_client.get(f"/admin/core/user/{subject.pk}/change/").content.decode()
    assert "user.demo" in page


def test_notify_leaves_a_notice_and_mails_in_the_users_language(django_capture_on_commit_callbacks):
    from django.utils.translation import gettext_lazy as _

    person = UserFactory(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=person, kind="demo", title=_("Notices"), body="hello %(name)s", context={"name": "Li"}, url="/x")
    notice = Notification.objects.get(user=person)
    assert notice.title == "Notices" and notice.body == "hello Li"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]
    assert "http://127.0.0.1:8000/x" in mail.outbox[0].body


def test_notify_many_writes_what_notify_writes_in_one_insert_and_mails_nobody(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    from datetime import UTC, date, datetime

    from django.utils.translation import gettext_lazy as _

    people = [UserFactory(language="zh-hans"), UserFactory(language="en")]
    at = datetime(2027, 12, 3, 4, 5, tzinfo=UTC)
    context = {"saved": "1.20", "shop": "小笼包", "on": date(2027, 12, 3)}
    title, body = _("You saved ¥%(saved)s at %(shop)s"), "%(on)s"
    with django_capture_on_commit_callbacks(execute=True):
        with django_assert_num_queries(1):
            notify_many(kind="many", title=title, body=body, url="/x", notices=[(p, context, at) for p in people])
        for person in people:
            notify(user=person, kind="one", title=title, body=body, url="/x", context=context, at=at, email=False)
    assert not mail.outbox
    for person in people:
        many, one = (Notification.objects.get(user=person, kind=kind) for kind in ("many", "one"))
        assert (many.title, many.body, many.url, many.created_at) == (one.title, one.body, one.url, at)
    titles = [Notification.objects.get(user=p, kind="many").title for p in people]
    assert titles[0] != titles[1]  # each in the reader's language


def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "unsafe-inline" not in policy
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_no_template_has_inline_scripts_or_styles():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("**/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(ld\+)?json\")[^>]*>", text):
            offenders.append(f"{path}: inline script")
        if re.search(r"\sstyle=\"", text) or re.search(r"\son[a-z]+=\"", text):
            offenders.append(f"{path}: inline style or handler")
        if re.search(r"(src|href)=\"(https?:)?//", text):
            offenders.append(f"{path}: remote asset")
    assert offenders == []


def test_api_docs_and_schema_work_offline(client):
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "//cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert "members:read" in spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
