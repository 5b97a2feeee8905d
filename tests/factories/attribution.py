"""Factories of notes, touches and redemptions for the attribution and dashboard tests (issue 6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

import factory
from django.test import TestCase
from django.utils import timezone

from core.models import PartnerApplication, User
from merchants.models import Merchant
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter, redemption_confirm
from redemptions.models import Redemption
from redemptions.models.attribution import Note, NoteMerchant, Touch

from .core import PartnerApplicationFactory
from .redemptions import code_of, staff_of

_touch_ids = count(1)


class ContentAppFactory(PartnerApplicationFactory):
    name = factory.Sequence(lambda n: f"Content app {n}")
    allowed_scopes = "notes:write touches:write"


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note
        skip_postgeneration_save = True

    source = factory.SubFactory(ContentAppFactory)
    external_id = factory.Sequence(lambda n: f"note-{n}")
    author_external_id = factory.Sequence(lambda n: f"author-{n}")
    title = factory.Sequence(lambda n: f"探店笔记 {n}")
    url = factory.Sequence(lambda n: f"https://notes.example/n/{n}")
    published_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=20))

    @factory.post_generation
    def tags(obj: Note, create: bool, extracted: list[Merchant] | None, **kwargs: object) -> None:
        if create and extracted:
            NoteMerchant.objects.bulk_create(NoteMerchant(note=obj, merchant=m) for m in extracted)


def touch(
    note: Note, member: User, *, at: datetime | None = None, kind: int = Touch.Kind.CLICK, ago: timedelta | None = None
) -> Touch:
    """A touch as the content app would have reported it."""
    when = at or timezone.now() - (ago or timedelta(hours=1))
    return Touch.objects.create(
        source=note.source,
        external_id=f"t-{next(_touch_ids)}",
        note=note,
        member=member,
        kind=kind,
        touched_at=when,
    )


_codes_used: dict[int, int] = {}


_WINDOW_OFFSETS = (0, 1, -1, -2)


def redeem(merchant: Merchant, member: User, *, bill_fen: int = 10_000, staff: User | None = None) -> Redemption:
    """A redemption through the real confirm service (a staff member scans the member's code), its
    outbox row processed on commit as in a request.

    Codes are single use (one per member and window): a member's next redemptions in a test use the codes
    of the next window, the previous one and the one before (all live: a code is accepted up to about 90
    seconds old and one window early). Counting in windows, not seconds, keeps every code live whatever the
    moment in its window the test runs at."""
    merchant = merchant_by_public_id(public_id=merchant.public_id)
    counter = Counter(staff=staff or staff_of(merchant))
    used = _codes_used.get(member.pk, 0)
    if used >= len(_WINDOW_OFFSETS):
        raise ValueError(f"a member has {len(_WINDOW_OFFSETS)} live codes at a time: redeem with another member")
    _codes_used[member.pk] = used + 1
    code = code_of(member, ahead=_WINDOW_OFFSETS[used]).qr
    # As a request does: the outbox row (credit, webhook, notice) is processed when the confirmation commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return redemption_confirm(merchant=merchant, counter=counter, bill=bill_fen, code=code)


def content_app(scopes: str = "notes:write touches:write") -> PartnerApplication:
    return ContentAppFactory(allowed_scopes=scopes)
