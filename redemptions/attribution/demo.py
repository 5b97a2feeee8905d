"""Demo notes and touches (issue 6), called by :func:`redemptions.demo.seed` after the counter's visits.

A demo content app publishes a handful of notes about each demo shop; most members who redeemed had
viewed, clicked or saved one or two of them in the days before (one note per shop is the popular one),
and plenty of other people read notes without going. Everything goes through the real services: notes
through ``note_upsert``, touches through ``touches_ingest`` in batches, and, since these touches arrive
after the redemptions they led to, the credits come from the catch-up job, as late touches would in
production. Two members wrote a note after their visit (verified visits), and the visitors who read
those notes afterwards are credited to them: the second wave. Idempotent.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from core.demo import DEMO_PASSWORD
from core.models import PartnerApplication, User
from merchants.models import Merchant, MerchantStaff

from ..models import Note, Redemption
from . import services

TITLES = (
    "{shop}｜本周最想再去一次的店",
    "小红卡 9 折打卡 {shop}，人均不到 80",
    "下班后去 {shop}：隐藏菜单全攻略",
    "周末带爸妈吃 {shop}，服务太贴心了",
    "{shop} 新品测评：值不值得排队？",
    "一个人也能好好吃饭：{shop}",
)


def _content_app() -> PartnerApplication:
    app, _created = PartnerApplication.objects.get_or_create(
        name="小红书内容 (demo)",
        defaults={
            "client_type": PartnerApplication.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": PartnerApplication.GRANT_CLIENT_CREDENTIALS,
            "allowed_scopes": "notes:write touches:write",
        },
    )
    return app


def seed(out: list[tuple[str, str, str]]) -> None:
    app = _content_app()
    if Note.objects.filter(source=app).exists():
        return
    rng = random.Random(6)
    now = timezone.now()
    redemptions = list(
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED)
        .select_related("merchant", "member")
        .order_by("confirmed_at")
    )
    shops = sorted({r.merchant for r in redemptions}, key=lambda m: m.pk)
    if not shops:
        return
    members = list({r.member for r in redemptions})
    # Birth years for the audience insights (demo people only, where none was given).
    for member in members:
        if member.birth_year is None:
            member.birth_year = rng.choice([1988, 1992, 1995, 1997, 1999, 2001, 1979, 1968])
            member.save(update_fields=["birth_year"])
            # As if their profile had said so at their demo visits (redemptions keep the visit's birth year).
            Redemption.objects.filter(member=member, member_birth_year__isnull=True).update(
                member_birth_year=member.birth_year
            )

    notes_of: dict[int, list[Note]] = {}
    for shop in shops:
        titles = rng.sample(TITLES, 4)
        notes_of[shop.pk] = [
            services.note_upsert(
                source=app,
                external_id=f"demo-{shop.public_id.hex[:8]}-{i}",
                title=title.format(shop=shop.name_zh),
                url=f"https://notes.redcard.local/n/{shop.public_id.hex[:8]}{i}",
                published_at=now - timedelta(days=40 - i),
                merchant_ids=[shop.public_id],
                author_external_id=f"writer-{rng.randint(100, 999)}",
            ).note
            for i, title in enumerate(titles)
        ]

    rows: list[dict[str, str]] = []

    def add(note: Note, member: User, at: object) -> None:
        rows.append(
            {
                "external_id": f"demo-t{len(rows)}",
                "note": note.external_id,
                "member": str(member.public_id),
                "kind": rng.choice(["view", "view", "click", "save"]),
                "at": at.isoformat(),  # type: ignore[attr-defined]
            }
        )

    # Most visits were led by one or two notes of that shop, the first one the most often.
    for r in redemptions:
        if rng.random() < 0.75:
            notes = notes_of[r.merchant_id]
            for _ in range(rng.choice([1, 1, 2, 3])):
                note = rng.choices(notes, weights=[6, 3, 2, 1])[0]
                add(note, r.member, r.confirmed_at - timedelta(hours=rng.randint(1, 6 * 24)))
    # Readers who did not go.
    for _ in range(len(redemptions)):
        shop = rng.choice(shops)
        add(rng.choice(notes_of[shop.pk]), rng.choice(members), now - timedelta(hours=rng.randint(1, 20 * 24)))

    # The second wave: two members wrote a note after their visit; later visitors read it first.
    early = [r for r in redemptions if r.confirmed_at < now - timedelta(days=12)]
    for first in rng.sample(early, min(2, len(early))):
        invite = services.note_invite(redemption=first, member=first.member)
        note = services.note_upsert(
            source=app,
            external_id=f"demo-visit-{first.public_id.hex[:8]}",
            title=f"#小红卡 {first.merchant.name_zh} 真实到店体验",
            url=f"https://notes.redcard.local/v/{first.public_id.hex[:8]}",
            published_at=first.confirmed_at + timedelta(hours=2),
            merchant_ids=[],
            author_member_id=first.member.public_id,
            visit_token=invite.visit_token,
        ).note
        later = [
            r
            for r in redemptions
            if r.merchant_id == first.merchant_id and r.confirmed_at > first.confirmed_at + timedelta(days=1)
        ]
        for r in later[::2]:
            add(note, r.member, r.confirmed_at - timedelta(hours=rng.randint(1, 20)))

    for start in range(0, len(rows), services.TOUCH_BATCH_LIMIT):
        services.touches_ingest(source=app, rows=rows[start : start + services.TOUCH_BATCH_LIMIT], now=now)
    services.credits_catch_up()
    services.home_districts_refresh()

    owner = (
        MerchantStaff.objects.filter(merchant__in=shops, role=MerchantStaff.Role.OWNER, user__email__endswith=".local")
        .select_related("user", "merchant")
        .order_by("merchant_id")
        .first()
    )
    if owner is not None and isinstance(owner.merchant, Merchant):
        out.append(
            (f"merchant owner: dashboard at /r/dashboard/ ({owner.merchant.name_zh})", owner.user.email, DEMO_PASSWORD)
        )
