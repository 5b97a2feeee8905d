"""What the standing services share: the SLA clocks, who may act, notices to owners, text limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from core.errors import DomainError
from core.models import User
from core.roles import CURATOR
from core.services import Actor, notify
from merchants.models import Merchant
from merchants.selectors import is_owner, owners_of

from .. import errors as _errors  # noqa: F401  (registers the codes)

State = Merchant.State
JOB_ACTOR = "system:removal_rules"
#: New findings committed per transaction by the daily job.
FINDING_BATCH = 200

MAX_TEXT = 2000
MAX_PHOTO_BYTES = 5 * 1024 * 1024
DUPLICATE_WINDOW = timedelta(minutes=1)
#: Members who redeemed at a shop this recently are told when it is removed (there is no "saved shop" yet).
REMOVAL_NOTICE_DAYS = 90


def sla_first_response() -> timedelta:
    return timedelta(hours=getattr(settings, "COMPLAINT_FIRST_RESPONSE_HOURS", 24))


def sla_resolution() -> timedelta:
    return timedelta(hours=getattr(settings, "COMPLAINT_RESOLUTION_HOURS", 72))


def is_curator(user: Any) -> bool:
    return bool(
        isinstance(user, User) and user.is_active and (user.is_superuser or user.groups.filter(name=CURATOR).exists())
    )


def require_curator(actor: Actor) -> None:
    if not is_curator(actor):
        raise DomainError("curator_required")


def tell_owners(merchant: Merchant, *, kind: str, title: Any, body: Any, context: dict[str, Any] | None = None) -> None:
    """Notify every owner of ``merchant`` (e-mail + in-app), linking to the shop's standing page."""
    for owner in owners_of(merchant=merchant):
        notify(
            user=owner,
            kind=kind,
            title=title,
            body=body,
            url=f"/curation/standing/shop/{merchant.public_id}/",
            context={"shop": merchant.name_zh, **(context or {})},
        )


def require_owner(*, merchant: Merchant, actor: User) -> None:
    if not is_owner(user=actor, merchant=merchant):
        raise DomainError("owner_required")


def clean_text(text: str | None, *, required_code: str, max_len: int = MAX_TEXT) -> str:
    value = (text or "").strip()
    if not value:
        raise DomainError(required_code)
    if len(value) > max_len:
        raise DomainError("complaint_text_too_long", max=max_len)
    return value
