"""Every write of notes, touches and attribution (issue 6, SPEC section 4).

- ``note_upsert`` / ``note_hide``: notes from the content app, upserted by (content app, external id).
  A note carrying a ``visit_token`` (from the post-redemption invitation) is linked to that redemption.
- ``touches_ingest``: a batch of up to ``TOUCH_BATCH_LIMIT`` touches, validated in bulk (two lookups for the
  whole batch), inserted with one statement that skips external ids already stored, so that a retried batch
  changes nothing. Bad rows are reported with their index and code; the good rows are kept.
- ``credit_redemptions`` / ``reverse_credits`` (and ``credit_redemption`` / ``reverse_credit`` for one): called
  by the counter's outbox for a batch of confirmations and voids after their commit. Crediting reads the
  members' touches on notes tagging each shop inside its city's window (one query for the batch, indexed per
  redemption) and writes last-touch, first-touch and linear credits side by side (one insert for the batch).
- ``credits_catch_up``: a periodic job that re-credits redemptions for touches that arrived after them.
- ``touches_purge``: a periodic job that deletes touches older than the retention period.
- ``home_districts_refresh``: a nightly job for the audience insights' home district.
- ``dashboard_rollups_rebuild``: recomputes the merchant days and member days the dashboard reads, after
  writes that bypassed confirm and void.
"""

from __future__ import annotations

import json
import re
from collections import Counter as Tally
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import CODES, DomainError, field_error
from core.models import PartnerApplication, User
from core.services import Actor, audit_record
from merchants.models import City, Merchant
from merchants.selectors import merchants_by_public_ids
from merchants.services import merchant_days_rebuild

from ..models import (
    SHARE_ONE,
    AttributionCredit,
    AttributionCursor,
    AttributionModel,
    AttributionWindow,
    MemberDay,
    MemberHomeDistrict,
    Note,
    NoteMerchant,
    Redemption,
    Touch,
)
from . import errors as _errors  # noqa: F401  (registers the codes)

#: Most touches one batch may hold.
TOUCH_BATCH_LIMIT = 1000
#: Most merchants one note may tag.
NOTE_MERCHANT_LIMIT = 20
#: A touch may be dated this far ahead of our clock (phones' clocks drift).
CLOCK_SKEW = timedelta(minutes=5)
#: The longest window a city may choose (AttributionWindow's check constraint).
MAX_WINDOW_DAYS = 90
#: Touches delivered this long after a redemption are still looked at by the catch-up job (in-flight batches).
CATCH_UP_SLACK = timedelta(minutes=5)
#: The hashtag of post-redemption notes.
HASHTAG = "#小红卡"
KIND_BY_NAME: dict[str, int] = {"view": Touch.Kind.VIEW, "click": Touch.Kind.CLICK, "save": Touch.Kind.SAVE}
_INVITE_SALT = "redcard.note-invite"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def default_window_days() -> int:
    return int(getattr(settings, "REDCARD_ATTRIBUTION_WINDOW_DAYS", 7))


def retention_days() -> int:
    """How long touches are kept; never shorter than the longest window a city may choose."""
    return max(MAX_WINDOW_DAYS, int(getattr(settings, "REDCARD_TOUCH_RETENTION_DAYS", 180)))


def attribution_window(*, city_id: int) -> timedelta:
    """The city's attribution window (``REDCARD_ATTRIBUTION_WINDOW_DAYS`` unless the city sets its own)."""
    days = AttributionWindow.objects.filter(city_id=city_id).values_list("days", flat=True).first()
    return timedelta(days=days or default_window_days())


def attribution_window_set(*, city: City, days: int, actor: Actor) -> AttributionWindow:
    """Set a city's window (1 to 90 days); credits already written are not recomputed."""
    if not 1 <= int(days) <= MAX_WINDOW_DAYS:
        raise field_error("days", "out_of_range", _("Choose between 1 and 90 days."))
    with transaction.atomic():
        window, _created = AttributionWindow.objects.update_or_create(city=city, defaults={"days": int(days)})
        audit_record(actor=actor, action="redemptions.attribution_window_set", obj=window, after={"days": days})
    return window


# --- Notes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteInvite:
    """What the member's page and the API offer after a redemption: a note pre-tagged with the shop."""

    redemption_public_id: UUID
    merchant_public_id: UUID
    merchant_name: str
    hashtag: str
    visit_token: str
    compose_url: str


def note_invite(*, redemption: Redemption, member: User) -> NoteInvite:
    """The invitation to write a note about a redemption (only its member, only while it stands).

    Raises ``not_found`` for someone else's redemption and ``note_invite_unavailable`` once voided."""
    from urllib.parse import urlencode

    if redemption.member_id != member.pk:
        raise DomainError("not_found")
    if redemption.status != Redemption.Status.CONFIRMED:
        raise DomainError("note_invite_unavailable")
    token = signing.dumps({"r": str(redemption.public_id), "m": str(member.public_id)}, salt=_INVITE_SALT)
    merchant = redemption.merchant
    base = str(getattr(settings, "REDCARD_CONTENT_COMPOSE_URL", "https://notes.redcard.local/compose"))
    query = urlencode({"merchant": str(merchant.public_id), "tag": HASHTAG, "visit_token": token})
    return NoteInvite(
        redemption_public_id=redemption.public_id,
        merchant_public_id=merchant.public_id,
        merchant_name=merchant.name,
        hashtag=HASHTAG,
        visit_token=token,
        compose_url=f"{base}?{query}",
    )


def _visit_redemption(*, token: str, author: User | None) -> Redemption:
    max_age = int(getattr(settings, "REDCARD_NOTE_INVITE_MAX_AGE_DAYS", 30)) * 86400
    try:
        data = signing.loads(token, salt=_INVITE_SALT, max_age=max_age)
    except signing.BadSignature as exc:
        raise DomainError("visit_token_invalid") from exc
    redemption = Redemption.objects.select_related("merchant", "member").filter(public_id=data.get("r")).first()
    if (
        redemption is None
        or author is None
        or str(author.public_id) != data.get("m")
        or redemption.member_id != author.pk
        or redemption.status != Redemption.Status.CONFIRMED
    ):
        raise DomainError("visit_token_invalid")
    return redemption


@dataclass(frozen=True)
class NoteUpsert:
    note: Note
    created: bool


def note_upsert(
    *,
    source: PartnerApplication,
    external_id: str,
    title: str,
    url: str,
    published_at: datetime,
    merchant_ids: Sequence[UUID | str],
    author_member_id: UUID | str | None = None,
    author_external_id: str = "",
    visit_token: str | None = None,
) -> NoteUpsert:
    """Create or update the note ``external_id`` of the content app ``source`` (a hidden note reappears).

    ``merchant_ids`` and ``author_member_id`` are public ids. A ``visit_token`` from ``note_invite`` links
    the note to that redemption (its author must be the redemption's member) and tags its shop.
    Raises ``note_merchant_unknown``, ``note_author_unknown``, ``visit_token_invalid``. Nothing is
    written when it raises."""
    wanted = {str(m) for m in merchant_ids}
    try:
        merchants = merchants_by_public_ids(public_ids=wanted)
    except (ValueError, TypeError, ValidationError) as exc:  # not UUIDs
        raise DomainError("note_merchant_unknown") from exc
    if len(merchants) != len(wanted):
        raise DomainError("note_merchant_unknown")
    author: User | None = None
    if author_member_id:
        try:
            author = User.objects.filter(public_id=author_member_id, is_active=True).first()
        except (ValueError, TypeError, ValidationError) as exc:  # not a UUID
            raise DomainError("note_author_unknown") from exc
        if author is None:
            raise DomainError("note_author_unknown")
    visit = _visit_redemption(token=visit_token, author=author) if visit_token else None
    merchant_pks = {m.pk for m in merchants}
    if visit is not None:
        merchant_pks.add(visit.merchant_id)
    try:
        with transaction.atomic():
            note, created = Note.objects.select_for_update().get_or_create(
                source=source,
                external_id=external_id,
                defaults={"title": title, "url": url, "published_at": published_at},
            )
            note.title, note.url, note.published_at, note.hidden_at = title, url, published_at, None
            note.author_member = author
            note.author_external_id = "" if author else author_external_id
            if visit is not None:
                note.redemption = visit
            note.save()
            current = set(NoteMerchant.objects.filter(note=note).values_list("merchant_id", flat=True))
            NoteMerchant.objects.filter(note=note, merchant_id__in=current - merchant_pks).delete()
            NoteMerchant.objects.bulk_create(NoteMerchant(note=note, merchant_id=pk) for pk in merchant_pks - current)
    except IntegrityError as exc:  # the redemption is already linked to another note
        raise DomainError("visit_token_invalid") from exc
    return NoteUpsert(note=note, created=created)


def note_hide(*, source: PartnerApplication, external_id: str) -> Note:
    """The content app deleted the note: hide it from readers, the leaderboard and future credits.
    Credits already given stay (history does not change). Raises ``note_not_found``."""
    with transaction.atomic():
        note = Note.objects.select_for_update().filter(source=source, external_id=external_id).first()
        if note is None:
            raise DomainError("note_not_found")
        _note_hide_locked(note, actor=f"partner:{source.client_id}", action="redemptions.note_hide")
    return note


def _note_hide_locked(note: Note, *, actor: Actor, action: str, reason: str = "") -> None:
    """Hide a note locked by the caller, once: the first hide is audited, a second one changes nothing."""
    if note.hidden_at is None:
        note.hidden_at = timezone.now()
        note.save(update_fields=["hidden_at", "updated_at"])
        audit_record(actor=actor, action=action, obj=note, reason=reason)


def note_moderate_hide(*, note: Note, actor: Actor, reason: str) -> Note:
    """A curator takes a note off the readers' lists, the shops' leaderboards and future credits (spam, a
    paid post passed off as a visit, abuse). Credits already given stay in history. The reason is audited;
    an already hidden note is left as it is. Raises ``validation_failed`` without a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "reason_required", _("Please give a reason."))
    with transaction.atomic():
        locked = Note.objects.select_for_update().get(pk=note.pk)
        _note_hide_locked(locked, actor=actor, action="redemptions.note_moderate_hide", reason=reason)
    note.hidden_at = locked.hidden_at
    return note


# --- Touches -------------------------------------------------------------------------------------------


@dataclass
class TouchBatchResult:
    received: int
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, row: Any, code: str) -> None:
        external_id = row.get("external_id") if isinstance(row, Mapping) else None
        self.rejected.append(
            {
                "index": index,
                "external_id": external_id if isinstance(external_id, str) else None,
                "code": code,
                "detail": str(CODES[code][1]),
            }
        )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _short_text(value: Any, limit: int = 100) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable() else None


def touches_ingest(*, source: PartnerApplication, rows: Sequence[Any], now: datetime | None = None) -> TouchBatchResult:
    """Store a batch of touches from ``source``; bad rows are reported, good rows kept.

    Each row: ``external_id``, ``note`` (the note's external id at this content app), ``member`` (public
    id), ``kind`` (view, click, save), ``at`` (ISO 8601 with offset). An external id already stored counts
    as a duplicate and changes nothing. Raises ``touch_batch_too_large`` / ``touch_batch_empty`` for the
    whole batch."""
    if len(rows) > TOUCH_BATCH_LIMIT:
        raise DomainError("touch_batch_too_large", limit=TOUCH_BATCH_LIMIT)
    if not rows:
        raise DomainError("touch_batch_empty")
    now = now or timezone.now()
    oldest = now - timedelta(days=retention_days())
    latest = now + CLOCK_SKEW
    result = TouchBatchResult(received=len(rows))
    parsed: list[tuple[int, Any, str, str, str, int, datetime]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            result.reject(index, row, "touch_row_invalid")
            continue
        external_id = _short_text(row.get("external_id"))
        note_ref = _short_text(row.get("note"))
        member_ref = _short_text(row.get("member"), 40)
        kind_name = row.get("kind")
        kind = KIND_BY_NAME.get(kind_name) if isinstance(kind_name, str) else None
        at = _parse_time(row.get("at"))
        if external_id is None or note_ref is None or member_ref is None or kind is None or at is None:
            result.reject(index, row, "touch_row_invalid")
            continue
        if external_id in seen:
            result.reject(index, row, "touch_duplicate_in_batch")
            continue
        seen.add(external_id)
        if at > latest:
            result.reject(index, row, "touch_in_future")
            continue
        if at < oldest:
            result.reject(index, row, "touch_too_old")
            continue
        parsed.append((index, row, external_id, note_ref, member_ref.lower(), kind, at))
    # Members are public ids in canonical form (any case); a regular expression checks them for the whole
    # batch much faster than building UUID objects, and the database compares them as uuid.
    member_refs = {p[4] for p in parsed if _UUID_TEXT.match(p[4])}
    notes, members = _batch_lookups(source_id=source.pk, note_refs={p[3] for p in parsed}, member_refs=member_refs)
    good: list[tuple[str, int, int, int, datetime]] = []
    for index, row, external_id, note_ref, member_ref, kind, at in parsed:
        note_pk = notes.get(note_ref)
        if note_pk is None:
            result.reject(index, row, "touch_note_unknown")
            continue
        member_pk = members.get(member_ref)
        if member_pk is None:
            result.reject(index, row, "touch_member_unknown")
            continue
        good.append((external_id, note_pk, member_pk, kind, at))
    result.rejected.sort(key=lambda r: r["index"])
    if good:
        result.accepted = _touches_insert(source_id=source.pk, rows=good, now=now)
        result.duplicates = len(good) - result.accepted
    return result


def _batch_lookups(
    *, source_id: int, note_refs: set[str], member_refs: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Note ids by external id and member ids by public id for a whole batch: two queries. On PostgreSQL
    each list travels as one JSON parameter, not a thousand bound values."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT external_id, id FROM redemptions_note WHERE source_id = %s"
                " AND external_id IN (SELECT json_array_elements_text(%s::json))",
                [source_id, json.dumps(list(note_refs))],
            )
            notes = dict(cursor.fetchall())
            cursor.execute(
                "SELECT public_id::text, id FROM core_user"
                " WHERE public_id IN (SELECT json_array_elements_text(%s::json)::uuid)",
                [json.dumps(list(member_refs))],
            )
            members = dict(cursor.fetchall())
        return notes, members
    notes = dict(Note.objects.filter(source_id=source_id, external_id__in=note_refs).values_list("external_id", "pk"))
    members = {str(k): v for k, v in User.objects.filter(public_id__in=member_refs).values_list("public_id", "pk")}
    return notes, members


def _touches_insert(*, source_id: int, rows: list[tuple[str, int, int, int, datetime]], now: datetime) -> int:
    """Insert the rows, skipping external ids already stored; returns how many were new.

    On PostgreSQL: one INSERT ... SELECT over the batch sent as one JSON parameter (binding thousands of
    values or arrays of timestamps costs more on the client than the insert costs the server)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH new AS (
                    INSERT INTO redemptions_touch
                        (source_id, external_id, note_id, member_id, kind, touched_at, received_at)
                    SELECT %s, r.e, r.n, r.m, r.k, timestamptz 'epoch' + r.t * interval '1 microsecond', %s
                    FROM json_to_recordset(%s::json) AS r(e varchar, n bigint, m bigint, k smallint, t bigint)
                    ON CONFLICT (source_id, external_id) DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM new
                """,
                [
                    source_id,
                    now,
                    json.dumps(
                        [{"e": e, "n": n, "m": m, "k": k, "t": (t - _EPOCH) // _MICROSECOND} for e, n, m, k, t in rows]
                    ),
                ],
            )
            return int(cursor.fetchone()[0])
    existing = set(
        Touch.objects.filter(source_id=source_id, external_id__in=[r[0] for r in rows]).values_list(
            "external_id", flat=True
        )
    )
    fresh = [r for r in rows if r[0] not in existing]
    Touch.objects.bulk_create(
        [
            Touch(source_id=source_id, external_id=e, note_id=n, member_id=m, kind=k, touched_at=t, received_at=now)
            for e, n, m, k, t in fresh
        ],
        ignore_conflicts=True,
    )
    return len(fresh)


# --- Attribution ---------------------------------------------------------------------------------------


def _largest_remainder(weights: Sequence[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """Split ``total`` in proportion to ``weights`` [(key, weight)]; the parts add up to ``total`` exactly.
    Ties of the remainder go to the earlier key in ``weights``."""
    whole = sum(w for _k, w in weights)
    parts = [(k, total * w // whole, (total * w) % whole, i) for i, (k, w) in enumerate(weights)]
    left = total - sum(p[1] for p in parts)
    order = sorted(range(len(parts)), key=lambda i: (-parts[i][2], parts[i][3]))
    bonus = set(order[:left])
    return [(k, base + (1 if i in bonus else 0)) for i, (k, base, _r, _o) in enumerate(parts)]


def allocate(*, touches: Sequence[tuple[int, datetime]], bill_fen: int) -> list[tuple[str, int, int, int]]:
    """The credits of one redemption: [(model, note id, share ppm, revenue fen)].

    ``touches`` are (note id, touched at) in time order. Last touch and first touch give the whole visit
    and bill to one note; linear gives each touch an equal share, summed per note (a note touched twice out
    of four touches gets half), in integer ppm and fen that add up exactly."""
    if not touches:
        return []
    credits = [
        (AttributionModel.LAST_TOUCH.value, touches[-1][0], SHARE_ONE, bill_fen),
        (AttributionModel.FIRST_TOUCH.value, touches[0][0], SHARE_ONE, bill_fen),
    ]
    per_note = list(Tally(note for note, _at in touches).items())  # first-touched note first
    shares = dict(_largest_remainder(per_note, SHARE_ONE))
    revenue = dict(_largest_remainder(per_note, bill_fen))
    credits += [(AttributionModel.LINEAR.value, note, shares[note], revenue[note]) for note, _n in per_note]
    return [c for c in credits if c[2] > 0]


#: The crediting read, written out so that the outbox does not pay for building it with the ORM each time: for
#: each redemption of a VALUES list (``{values}``: one row of placeholders each), the member's touches on
#: visible notes tagging the shop, up to the longest window a city may choose back, with the city's own window.
CREDITED_TOUCHES_SQL = """
WITH v (redemption_id, member_id, merchant_id, city_id, since, upto) AS (VALUES {values})
SELECT v.redemption_id, t.note_id, t.touched_at, w.days
FROM v
JOIN redemptions_touch t ON t.member_id = v.member_id AND t.touched_at >= v.since AND t.touched_at <= v.upto
JOIN redemptions_notemerchant nm ON nm.note_id = t.note_id AND nm.merchant_id = v.merchant_id
JOIN redemptions_note n ON n.id = t.note_id AND n.hidden_at IS NULL
LEFT JOIN redemptions_attributionwindow w ON w.city_id = v.city_id
ORDER BY v.redemption_id, t.touched_at, t.note_id
"""


def _credited_touches(redemptions: Sequence[Redemption]) -> dict[int, list[tuple[int, datetime]]]:
    """Each redemption's member's touches on visible notes tagging its shop inside its city's window, in time
    order, by redemption id (none for a redemption without any).

    One query for all of them, indexed by (member, touched_at) per redemption: it reads up to the longest
    window a city may choose and carries each city's own window along, then keeps the touches inside it."""
    if not redemptions:
        return {}
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for r in redemptions:
        since = adapt(r.confirmed_at - timedelta(days=MAX_WINDOW_DAYS))
        params += [r.pk, r.member_id, r.merchant_id, r.merchant.city_id, since, adapt(r.confirmed_at)]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(redemptions))
    with connection.cursor() as cursor:
        cursor.execute(CREDITED_TOUCHES_SQL.format(values=values), params)  # placeholders only
        rows = cursor.fetchall()
    confirmed_at = {r.pk: r.confirmed_at for r in redemptions}
    aware = connection.vendor != "postgresql"  # SQLite hands back naive UTC datetimes
    found: dict[int, list[tuple[int, datetime]]] = {}
    for redemption_id, note_id, touched_at, days in rows:
        at = _aware(touched_at) if aware else touched_at
        if at >= confirmed_at[redemption_id] - timedelta(days=days or default_window_days()):
            found.setdefault(redemption_id, []).append((note_id, at))
    return found


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


INSERT_CREDITS_SQL = (
    "INSERT INTO redemptions_attributioncredit"
    " (redemption_id, note_id, model, share_ppm, revenue_fen, merchant_id, local_date, created_at) VALUES "
)


CREDITS_CONFLICT_SQL = " ON CONFLICT (redemption_id, model, note_id) DO NOTHING"


def credit_redemption(*, redemption: Redemption) -> None:
    """Credit a confirmed redemption to the notes that led to it, under all three models (``credit_redemptions``
    for one)."""
    credit_redemptions(redemptions=[redemption])


def credit_redemptions(*, redemptions: Sequence[Redemption]) -> int:
    """Credit confirmed redemptions (their merchant loaded) to the notes that led to them, under all three
    models; returns how many credit rows were offered.

    One query over the touches of them all (``_credited_touches``) and one INSERT of every credit, when there
    is any. Idempotent: a redemption already credited (its outbox row processed again after a crash, or the
    late-touch catch-up that got there first) keeps the credits it has."""
    touches = _credited_touches(redemptions)
    if not touches:
        return 0
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for redemption in redemptions:
        credits = allocate(touches=touches.get(redemption.pk, ()), bill_fen=redemption.bill_fen)
        day = connection.ops.adapt_datefield_value(redemption.local_date) if credits else None
        for model, note_id, share, revenue in credits:
            params += [redemption.pk, note_id, model, share, revenue, redemption.merchant_id, day, now]
    if not params:
        return 0
    count = len(params) // 8
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * count)
    with connection.cursor() as cursor:  # written out: the ORM's bulk_create costs more than the statement
        cursor.execute(INSERT_CREDITS_SQL + values + CREDITS_CONFLICT_SQL, params)  # placeholders only
    return count


def reverse_credit(*, redemption: Redemption) -> None:
    """A voided redemption credits nothing: call inside the voiding transaction."""
    reverse_credits(redemption_ids=[redemption.pk])


def reverse_credits(*, redemption_ids: Collection[int]) -> None:
    """Voided redemptions credit nothing: one DELETE of their credits."""
    if redemption_ids:
        AttributionCredit.objects.filter(redemption_id__in=list(redemption_ids)).delete()


def recredit(*, redemption_id: int) -> bool:
    """Recompute one redemption's credits from the touches stored now (locks the redemption, so that a void
    cannot interleave). Returns False when the redemption is no longer confirmed."""
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("merchant")
            .filter(pk=redemption_id)
            .first()
        )
        if redemption is None or redemption.status != Redemption.Status.CONFIRMED:
            return False
        AttributionCredit.objects.filter(redemption_id=redemption.pk).delete()
        credit_redemption(redemption=redemption)
    return True


def credits_catch_up(*, batch: int = 20_000) -> int:
    """Re-credit redemptions for which a touch dated before them arrived after them (within the window).

    Reads the touches stored since the last run (a cursor row, locked so two runs never overlap) and returns
    how many redemptions were recomputed."""
    done = 0
    while True:
        with transaction.atomic():
            cursor, _created = AttributionCursor.objects.get_or_create(name="catch_up")
            cursor = AttributionCursor.objects.select_for_update().get(pk=cursor.pk)
            upto = (
                Touch.objects.filter(pk__gt=cursor.last_id)
                .order_by("pk")
                .values_list("pk", flat=True)[batch - 1 : batch]
                .first()
            )
            if upto is None:
                upto = Touch.objects.filter(pk__gt=cursor.last_id).order_by("-pk").values_list("pk", flat=True).first()
            if upto is None:
                return done
            late = Touch.objects.filter(
                pk__gt=cursor.last_id,
                pk__lte=upto,
                member_id=OuterRef("member_id"),
                note__tags__merchant_id=OuterRef("merchant_id"),
                touched_at__lte=OuterRef("confirmed_at"),
                touched_at__gte=OuterRef("confirmed_at") - timedelta(days=MAX_WINDOW_DAYS),
                received_at__gte=OuterRef("confirmed_at") - CATCH_UP_SLACK,
            )
            members = Touch.objects.filter(pk__gt=cursor.last_id, pk__lte=upto).values("member_id")
            affected = list(
                Redemption.objects.filter(status=Redemption.Status.CONFIRMED, member_id__in=members)
                .filter(Exists(late))
                .values_list("pk", flat=True)
            )
            cursor.last_id = upto
            cursor.save(update_fields=["last_id", "updated_at"])
        for pk in affected:
            done += int(recredit(redemption_id=pk))


def touches_purge(*, now: datetime | None = None, batch: int = 50_000) -> int:
    """Delete touches older than the retention period, in batches; returns how many were deleted."""
    cut = (now or timezone.now()) - timedelta(days=retention_days())
    deleted = 0
    while True:
        ids = list(Touch.objects.filter(touched_at__lt=cut).order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Touch.objects.filter(pk__in=ids).delete()[0]  # nothing refers to a touch: one DELETE


def home_districts_refresh(*, now: datetime | None = None, days: int = 365) -> int:
    """Each member's home district: the district of the shops where they redeemed most over ``days``
    (ties to the most recent visit). Returns how many members were written."""
    now = now or timezone.now()
    rows = (
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED, confirmed_at__gte=now - timedelta(days=days))
        .values("member_id", district_id=F("merchant__district_id"))
        .annotate(visits=Count("pk"), last=Max("confirmed_at"))
        .order_by("member_id", "-visits", "-last")
    )
    best: dict[int, int] = {}
    for row in rows.iterator(chunk_size=5000):
        best.setdefault(row["member_id"], row["district_id"])
    objs = [MemberHomeDistrict(member_id=m, district_id=d, computed_at=now) for m, d in best.items()]
    for start in range(0, len(objs), 5000):
        MemberHomeDistrict.objects.bulk_create(
            objs[start : start + 5000],
            update_conflicts=True,
            unique_fields=["member"],
            update_fields=["district", "computed_at"],
        )
    return len(objs)


# --- Dashboard roll-ups --------------------------------------------------------------------------------


def dashboard_rollups_rebuild(
    *,
    merchant_ids: Collection[int] | None = None,
    first: date | None = None,
    last: date | None = None,
    member_days: bool = True,
) -> int:
    """Recompute what the owner's dashboard reads instead of the redemptions, from the confirmed redemptions
    of ``merchant_ids`` (every merchant by default) from local day ``first`` to ``last`` (inclusive, open by
    default); returns the number of merchant days written:

    - the daily roll-up of ``merchants.MerchantDay`` (confirmed redemptions, bill total, discount), through
      ``merchants.services.merchant_days_rebuild``; the capacity counter is left alone;
    - with ``member_days``, ``MemberDay.count`` (the member's daily limit, which by definition counts the
      member's confirmed redemptions of the day at the shop; "new or returning" reads it for the days before
      the audience window).

    Confirm and void keep both exact in their own transaction; this is for rows written around the services
    (the backfill migration, imports, the benchmark's bulk load, a test that rewrites a redemption). Safe while
    redemptions are confirmed (both tables are locked against writers, in the order confirm takes them, before
    the redemptions are read), but confirmations wait for it: keep the range narrow on a live system.
    """
    confirmed = Redemption.objects.filter(status=Redemption.Status.CONFIRMED).order_by()
    member_rows = MemberDay.objects.all()
    if merchant_ids is not None:
        merchant_ids = list(merchant_ids)
        confirmed = confirmed.filter(merchant_id__in=merchant_ids)
        member_rows = member_rows.filter(merchant_id__in=merchant_ids)
    if first is not None:
        confirmed = confirmed.filter(local_date__gte=first)
        member_rows = member_rows.filter(local_date__gte=first)
    if last is not None:
        confirmed = confirmed.filter(local_date__lte=last)
        member_rows = member_rows.filter(local_date__lte=last)

    def day_totals() -> Iterator[tuple[int, date, int, int, int]]:
        rows = confirmed.values_list("merchant_id", "local_date").annotate(
            n=Count("pk"), gmv=Sum("bill_fen"), discount=Sum("discount_fen")
        )
        for merchant, day, n, gmv, discount in rows.iterator(chunk_size=5000):
            yield merchant, day, n, int(gmv), int(discount)

    with transaction.atomic():
        if member_days:
            if connection.vendor == "postgresql":  # before merchant days: the order confirm and void lock in
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {MemberDay._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
            member_rows.exclude(count=0).update(count=0)
            counts = confirmed.values_list("member_id", "merchant_id", "local_date").annotate(n=Count("pk"))
            stream = counts.iterator(chunk_size=5000)
            while batch := list(islice(stream, 5000)):
                MemberDay.objects.bulk_create(
                    [MemberDay(member_id=m, merchant_id=shop, local_date=day, count=n) for m, shop, day, n in batch],
                    update_conflicts=True,
                    unique_fields=["member", "merchant", "local_date"],
                    update_fields=["count"],
                )
        return merchant_days_rebuild(totals=day_totals, merchant_ids=merchant_ids, first=first, last=last)


def notes_for_merchant(*, merchant: Merchant, limit: int = 20) -> list[Note]:
    """Visible notes tagging ``merchant``, newest first (readers see ``verified_visit``)."""
    return list(
        Note.objects.filter(tags__merchant=merchant, hidden_at__isnull=True).order_by("-published_at", "-pk")[:limit]
    )
