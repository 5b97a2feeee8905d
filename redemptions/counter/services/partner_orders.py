"""Consumption reported by partner platforms (issue 16, SPEC section 5 "external consumption").

A member links a partner account (OAuth-style consent): the consent page sends the browser back to the partner
with a one-time code (:func:`partner_link_code_issue`), which the partner's server exchanges, with its own
credentials, for an opaque member token (:func:`partner_link_exchange`, authorization-code style: the token
never appears in a redirect, an access log or a Referer header). RedCard keeps only SHA-256s. The partner
(OAuth scope ``consumption:write``, granted on the shop by the merchant) then reports each order the member
paid through it (:func:`partner_order_report`): it becomes a redemption of channel ``partner_platform``
through the one confirm core (:func:`.redeem.redemption_write`): the member's daily limit and the shop's
capacity apply, the savings meter, the day roll-up, the audit trail and the outbox (attribution credit,
webhook, notice) exactly as in-store.

Idempotent by (partner, order id): the redemption's ``code_id`` is derived from them, so the same order is
one redemption even when reported from many threads at once (the unique ``code_id`` makes every other writer
wait, fail and read the first). The same order id with another bill or discount is refused
(``partner_order_conflict``) and kept as a ``RefusedScan`` for review. A refund
(:func:`partner_order_refund`) voids it through the ordinary void path (its outbox reverses the credit, the
webhook follows), whenever it comes.

The discount: the partner reports what it gave. It must be the offer's discount on the bill (one fen of
rounding allowed, else ``partner_discount_short``); the member's meter records the smaller of the two (a
partner giving more than the offer gives its own promotion, not RedCard's).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DomainError
from core.models import PartnerApplication, User
from merchants.models import Merchant
from merchants.selectors import partner_granted

from ...models import Channel, PartnerLink, PartnerLinkCode, Redemption
from .common import Counter, parse_bill_fen, refusal_record
from .redeem import redemption_void, redemption_write

CONSUMPTION_SCOPE = "consumption:write"
#: A partner's clock may run this far ahead of ours.
PAID_AT_SKEW = timedelta(minutes=5)
#: Orders older than this are not accepted (the member's day and the shop's capacity are long settled).
PAID_AT_MAX_AGE = timedelta(days=7)
ORDER_ID_MAX = 64
TOKEN_PREFIX = "rcm_"  # noqa: S105 - the prefix of every member token, not a secret
CODE_PREFIX = "rcc_"  # the prefix of every one-time link code
#: How long the partner has to exchange a link code (RFC 6749 recommends at most ten minutes).
CODE_LIFETIME = timedelta(minutes=10)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def order_code_id(*, application: PartnerApplication, order_id: str) -> str:
    """The ``Redemption.code_id`` of a partner's order: one redemption per (partner, order id)."""
    digest = hashlib.sha256(f"{application.pk}:{order_id}".encode()).hexdigest()[:40]
    return f"partner.{digest}"


# --- Links -------------------------------------------------------------------------------------------


def partner_linkable(*, application: PartnerApplication) -> bool:
    """Whether members may link this partner: it may report consumption."""
    return CONSUMPTION_SCOPE in application.scope_set


def partner_link(*, member: User, application: PartnerApplication) -> str:
    """Link the member to this partner: a new token (a live link is replaced, its old token stops working).
    Returns the token, given once (to the partner's server, by :func:`partner_link_exchange`)."""
    return _link_create(member=member, application=application)[0]


def _link_create(*, member: User, application: PartnerApplication) -> tuple[str, PartnerLink]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    for _attempt in range(3):  # two consents at once: one live link survives; the other's write retries
        now = timezone.now()
        try:
            with transaction.atomic():
                PartnerLink.objects.filter(member=member, application=application, unlinked_at__isnull=True).update(
                    unlinked_at=now
                )
                link = PartnerLink.objects.create(
                    member=member, application=application, token_hash=_token_hash(token), linked_at=now
                )
        except IntegrityError:
            continue
        return token, link
    raise DomainError("conflict")


def partner_link_code_issue(*, member: User, application: PartnerApplication, redirect_uri: str) -> str:
    """The member consented: a one-time code for the partner's redirect (valid :data:`CODE_LIFETIME`, for
    this partner and ``redirect_uri`` only). Nothing is linked until the partner exchanges it."""
    code = CODE_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    PartnerLinkCode.objects.create(
        code_hash=_token_hash(code),
        member=member,
        application=application,
        redirect_uri=redirect_uri,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    return code


def partner_link_exchange(
    *, application: PartnerApplication, code: object, redirect_uri: object, now: datetime | None = None
) -> tuple[str, PartnerLink]:
    """The partner's server trades the one-time ``code`` (with the ``redirect_uri`` it was issued for) for the
    member's token: ``(token, link)``. Raises ``partner_link_code_invalid`` for a code unknown, of another
    partner, expired, for another redirect URI, or used before; a code used before also ends the link it
    made (RFC 6749 section 4.1.2: whoever replays it had it too), so a leaked code links nobody for long."""
    now = now or timezone.now()
    if not isinstance(code, str) or not code.startswith(CODE_PREFIX) or len(code) > 100:
        raise DomainError("partner_link_code_invalid")
    replayed = False
    with transaction.atomic():
        grant = (
            PartnerLinkCode.objects.select_for_update()
            .select_related("member")
            .filter(code_hash=_token_hash(code), application=application)
            .first()
        )
        if grant is None:
            raise DomainError("partner_link_code_invalid")
        if grant.used_at is not None:
            replayed = True
            if grant.link_id is not None:
                PartnerLink.objects.filter(pk=grant.link_id, unlinked_at__isnull=True).update(unlinked_at=now)
        elif grant.expires_at <= now or grant.redirect_uri != redirect_uri or not grant.member.is_active:
            raise DomainError("partner_link_code_invalid")
        else:
            token, link = _link_create(member=grant.member, application=application)
            grant.used_at, grant.link = now, link
            grant.save(update_fields=["used_at", "link"])
    if replayed:  # raised after the commit: the link the code made stays ended
        raise DomainError("partner_link_code_invalid")
    return token, link


def partner_unlink(*, member: User, link_id: UUID | str) -> bool:
    """Unlink (the token stops working at once). False when no live link of the member has this id."""
    return bool(
        PartnerLink.objects.filter(member=member, public_id=link_id, unlinked_at__isnull=True).update(
            unlinked_at=timezone.now()
        )
    )


def partner_links_of(*, member: User) -> list[PartnerLink]:
    """The member's live links, with their partner."""
    return list(PartnerLink.objects.filter(member=member, unlinked_at__isnull=True).select_related("application"))


def linked_member(*, application: PartnerApplication, token: object) -> User | None:
    """The member behind a live token this partner holds."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    link = (
        PartnerLink.objects.filter(application=application, token_hash=_token_hash(token), unlinked_at__isnull=True)
        .select_related("member")
        .first()
    )
    return link.member if link is not None and link.member.is_active else None


# --- Orders ------------------------------------------------------------------------------------------


def _existing(*, code_id: str, bill_fen: int, discount_fen: int) -> Redemption | None:
    """The redemption of an order reported before, or ``partner_order_conflict`` when it differs."""
    found = Redemption.objects.select_related("merchant", "member", "partner").filter(code_id=code_id).first()
    if found is None:
        return None
    if found.bill_fen != bill_fen or (discount_fen < found.discount_fen or discount_fen - found.discount_fen > 1):
        raise DomainError("partner_order_conflict")
    return found


def _order_id(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > ORDER_ID_MAX or not text.isprintable():
        raise DomainError("partner_order_id_invalid")
    return text


def partner_order_report(
    *,
    application: PartnerApplication,
    merchant: Merchant,
    member_token: object,
    order_id: object,
    bill: object,
    discount: object,
    paid_at: datetime,
    now: datetime | None = None,
) -> tuple[Redemption, bool]:
    """Record an order the member paid through the partner: ``(redemption, created)``; the same order
    again answers its redemption with ``created`` False.

    Raises ``partner_order_id_invalid``, ``bill_invalid``, ``partner_discount_invalid``,
    ``partner_member_unknown``, ``partner_not_granted``,
    ``partner_paid_at_future``, ``partner_paid_at_too_old``, ``partner_order_conflict`` (flagged),
    ``partner_discount_short``, and the confirm core's ``membership_inactive``, ``merchant_not_active``,
    ``merchant_paused``, ``bill_below_minimum``, ``member_limit_reached``, ``merchant_at_capacity``. Every
    refusal writes nothing but its ``RefusedScan``."""
    now = now or timezone.now()
    counter = Counter(partner=application)
    member: User | None = None
    order_text = order_id if isinstance(order_id, str) else ""
    try:
        order = _order_id(order_id)
        bill_fen = parse_bill_fen(bill)
        if isinstance(discount, bool) or not isinstance(discount, int) or not 0 <= discount <= bill_fen:
            raise DomainError("partner_discount_invalid")
        code_id = order_code_id(application=application, order_id=order)
        found = _existing(code_id=code_id, bill_fen=bill_fen, discount_fen=discount)
        if found is not None:
            return found, False
        if not partner_granted(application=application, merchant=merchant, scope=CONSUMPTION_SCOPE):
            raise DomainError("partner_not_granted")
        member = linked_member(application=application, token=member_token)
        if member is None:
            raise DomainError("partner_member_unknown")
        if paid_at > now + PAID_AT_SKEW:
            raise DomainError("partner_paid_at_future")
        if paid_at < now - PAID_AT_MAX_AGE:
            raise DomainError("partner_paid_at_too_old")
        try:
            redemption = redemption_write(
                merchant=merchant,
                counter=counter,
                channel=Channel.PARTNER_PLATFORM,
                bill_fen=bill_fen,
                at=paid_at,
                member=member,
                code_id=code_id,
                discount_reported=discount,
                partner_order_id=order,
            )
        except DomainError as exc:
            if exc.code != "code_already_used":
                raise
            # Another report of this order committed first: answer it (or the conflict).
            found = _existing(code_id=code_id, bill_fen=bill_fen, discount_fen=discount)
            if found is None:  # pragma: no cover - the unique code_id was violated, so the row is there
                raise
            return found, False
        except IntegrityError:
            found = _existing(code_id=code_id, bill_fen=bill_fen, discount_fen=discount)
            if found is None:
                raise
            return found, False
        else:
            return redemption, True
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="partner",
            merchant=merchant,
            counter=counter,
            code_text=order_text,
            channel=Channel.PARTNER_PLATFORM,
            member=member,
            at=now,
        )
        raise


def partner_order_refund(*, application: PartnerApplication, order_id: object, reason: str = "") -> Redemption:
    """The partner refunded or cancelled the order: its redemption is voided through the void path (the
    member's limit, the shop's capacity and the savings given back; the outbox reverses the attribution
    credit and sends the webhook). Idempotent: a refunded order answers its voided redemption. Raises
    ``partner_order_unknown``."""
    order = order_id.strip() if isinstance(order_id, str) else ""
    if not order or len(order) > ORDER_ID_MAX:
        raise DomainError("partner_order_unknown")
    code_id = order_code_id(application=application, order_id=order)
    redemption = (
        Redemption.objects.select_related("merchant", "member", "partner")
        .filter(code_id=code_id, partner=application)
        .first()
    )
    if redemption is None:
        raise DomainError("partner_order_unknown")
    if redemption.status == Redemption.Status.VOIDED:
        return redemption
    counter = Counter(partner=application)
    try:
        redemption_void(
            redemption=redemption,
            actor=counter.actor,
            reason=(reason or "").strip()[:500] or f"refunded on the partner platform (order {order})",
            enforce_window=False,
        )
    except DomainError as exc:
        if exc.code != "already_voided":
            raise
        redemption.refresh_from_db()
    return redemption
