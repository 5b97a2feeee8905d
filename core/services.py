"""Platform services used by every app: the audit trail, notices and state machines."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from celery.exceptions import Retry
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.functional import Promise
from kombu.exceptions import OperationalError as BrokerUnavailable

from .cache import UNAVAILABLE as REDIS_UNAVAILABLE
from .errors import InvalidTransition
from .localtime import programme_zone
from .models import AuditEntry, Notification, User
from .sql import Write, insert_write

logger = logging.getLogger(__name__)

Actor = User | str | None
"""Who acted: a person, or a label such as ``"system:expire_job"`` or ``"partner:<app>"``."""


def _jsonable(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    import json

    return json.loads(json.dumps(dict(data), cls=DjangoJSONEncoder))


def actor_label(actor: Actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return f"user:{actor.pk} {actor.email}"


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    reason: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``obj`` and why.

    Call it inside the transaction that makes the change, so that the entry and
    the change commit or roll back together.
    """
    entry = _audit_entry(actor=actor, action=action, obj=obj, reason=reason, before=before, after=after)
    entry.object_id = str(obj.pk)
    entry.save(force_insert=True)
    return entry


def audit_write(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    object_id: str,
    reason: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> Write:
    """``audit_record`` as a ``Write`` for ``core.sql.writes_run``, for an ``obj`` written in the same statement:
    ``object_id`` is the SQL of its id (``"{r}"``, the value another write returns)."""
    entry = _audit_entry(actor=actor, action=action, obj=obj, reason=reason, before=before, after=after)
    return insert_write(entry, raw={"object_id": f"CAST({object_id} AS varchar(64))"})


def _audit_entry(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    reason: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        actor=actor if isinstance(actor, User) else None,
        actor_label=actor_label(actor)[:120],
        action=action,
        object_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_repr=str(obj)[:200],
        reason=reason,
        before=_jsonable(before),
        after=_jsonable(after),
    )


def audit_history(obj: models.Model) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(
        object_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("actor")


def transition_check(
    *, model: str, current: str, target: str, allowed: Mapping[str, frozenset[str] | set[str]]
) -> None:
    """Raise ``InvalidTransition`` unless ``current -> target`` is in ``allowed``."""
    if target not in allowed.get(current, ()):
        raise InvalidTransition(model=model, current=current, target=target)


def reader_text(value: Any, *, language: str) -> Any:
    """A date or datetime as a reader of ``language`` writes it, on the programme's wall clock
    (2027年12月3日 in Chinese, 2027-12-03 in English); anything else as it is."""
    if not isinstance(value, date):
        return value
    with translation.override(language), timezone.override(programme_zone()):
        if isinstance(value, datetime):
            return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
        return formats.date_format(value, "DATE_FORMAT")


def notify(
    *,
    user: User,
    kind: str,
    title: str | Promise,
    body: str | Promise = "",
    url: str = "",
    email: bool = True,
    context: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Notification:
    """Leave an in-app notice for ``user`` and e-mail it after the transaction commits.

    ``title`` and ``body`` may be lazy translations with ``%(name)s``
    placeholders filled from ``context``; they are rendered in the user's own
    language. Dates and datetimes in ``context`` are written as the reader's
    language writes them, on the programme's wall clock (2027年12月3日, or
    2027-12-03 in English). ``at`` is when the event happened (default now): the
    notice carries the event's own time.
    """
    notice = _notice(user=user, kind=kind, title=title, body=body, url=url, context=context, at=at)
    notice.save(force_insert=True)
    if email and user.email:

        def send() -> None:
            from .tasks import email_notice

            try:
                email_notice.delay(notice.pk)  # retried with backoff by the worker (core.tasks)
            except (Retry, OSError, smtplib.SMTPException) as exc:  # inline tasks (embedded default): no retry
                logger.warning("could not e-mail notice %s (%s); the in-app notice stands", notice.pk, exc)
            except (BrokerUnavailable, *REDIS_UNAVAILABLE) as exc:  # no broker: try once here, the notice stands
                logger.warning("notice %s not queued for e-mail (%s); sending it now", notice.pk, exc)
                try:
                    notice_email_send(notice_id=notice.pk)
                except OSError:
                    logger.exception("could not e-mail notice %s to user %s", notice.pk, user.pk)

        transaction.on_commit(send)
    return notice


def notify_many(
    *,
    kind: str,
    title: str | Promise,
    body: str | Promise = "",
    url: str = "",
    notices: Iterable[tuple[User, Mapping[str, Any] | None, datetime | None]],
) -> list[Notification]:
    """``notify`` for many people at once (a batch job's notices), in-app only (no e-mail): the same text
    rendered for each (user, context, at) as ``notify`` renders it, and one INSERT for them all."""
    made = [
        _notice(user=user, kind=kind, title=title, body=body, url=url, context=context, at=at)
        for user, context, at in notices
    ]
    return Notification.objects.bulk_create(made) if made else []


def _notice(
    *,
    user: User,
    kind: str,
    title: str | Promise,
    body: str | Promise,
    url: str,
    context: Mapping[str, Any] | None,
    at: datetime | None,
) -> Notification:
    """The unsaved notice of ``notify``: ``title`` and ``body`` in the user's language, filled from ``context``."""
    params = {key: reader_text(value, language=user.language) for key, value in (context or {}).items()}
    with translation.override(user.language):
        title_text = str(title) % params if params else str(title)
        body_text = str(body) % params if params else str(body)
    return Notification(
        user=user, kind=kind, title=title_text, body=body_text, url=url, created_at=at or timezone.now()
    )


def notice_email_send(*, notice_id: int) -> bool:
    """E-mail one in-app notice to its person, in their language. Returns False when there is nothing to
    send (the notice or the address is gone). Raises ``OSError``/``smtplib.SMTPException`` when the mail
    server refuses, for the task to retry."""
    from django.conf import settings

    notice = Notification.objects.select_related("user").filter(pk=notice_id).first()
    if notice is None or not notice.user.email:
        return False
    with translation.override(notice.user.language):
        text = render_to_string(
            "core/email/notice.txt",
            {"title": notice.title, "body": notice.body, "url": settings.SITE_URL + notice.url if notice.url else ""},
        )
    send_mail(f"[RedCard 小红卡] {notice.title}", text, None, [notice.user.email])
    return True
