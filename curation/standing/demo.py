"""Demo standing data through the real services: complaints in each state (one breaching its first-response
SLA), the daily evaluation finding a shop with two upheld "refused the card" complaints (open finding,
owner login "shop 1" when it has visits), a shop removed (淘汰) for an expired licence, a pending appeal,
and the operations roll-up. Runs after the redemptions demo (INSTALLED_APPS order). Idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from core.demo import DEMO_PASSWORD
from core.models import User
from curation.models import Complaint, Finding, MerchantLicence
from merchants.models import Merchant, MerchantStaff
from redemptions.counter.selectors import surging_merchant_ids
from redemptions.models import Redemption

from . import services as standing


def _visits(merchant: Merchant) -> list[Redemption]:
    """One confirmed redemption per member at ``merchant`` (complaints need distinct visits)."""
    seen: set[int] = set()
    visits = []
    for redemption in Redemption.objects.filter(merchant=merchant, status=Redemption.Status.CONFIRMED).order_by(
        "-confirmed_at"
    ):
        if redemption.member_id not in seen:
            seen.add(redemption.member_id)
            visits.append(redemption)
    return visits


def seed(out: list[tuple[str, str, str]]) -> None:
    standing.removal_rules_install_defaults()
    curator = User.objects.filter(email="curator@redcard.local").first()
    if curator is None or Complaint.objects.exists():
        return
    shops = list(
        Merchant.objects.filter(state__in=Merchant.VISIBLE_STATES, redemptions__status="confirmed")
        .distinct()
        .order_by("pk")
    )
    owned = set(MerchantStaff.objects.filter(role="owner", merchant__in=shops).values_list("merchant_id", flat=True))
    # Not the surging shop: the demo prints it as the one to scan at, so it must stay able to redeem.
    surging = surging_merchant_ids()
    shops = [m for m in shops if m.pk in owned and m.pk not in surging and len(_visits(m)) >= 4]
    if len(shops) < 4:
        return
    login_shop = MerchantStaff.objects.filter(user__email="owner01@redcard.local", merchant__in=shops).first()
    warned = login_shop.merchant if login_shop else shops[0]
    others = [m for m in shops if m.pk != warned.pk]
    removed, appealed, calm = others[0], others[1], others[2]
    pending = len(connection.run_on_commit)
    now = timezone.now()

    # Complaints in every state at a calm shop.
    v = _visits(calm)
    standing.complaint_file(
        member=v[0].member, redemption=v[0], category="discount_not_applied", text="结账时店员忘了打九折。", now=now
    )
    standing.complaint_file(
        member=v[1].member,
        redemption=v[1],
        category="service",
        text="等位四十分钟没人理，小红卡会员也没有优先。",
        now=now - timedelta(hours=30),  # unanswered for 30 h: breaches the 24 h first-response SLA
    )
    answered = standing.complaint_file(
        member=v[2].member, redemption=v[2], category="hygiene", text="餐具上有污渍。", now=now - timedelta(hours=5)
    )
    standing.complaint_reply(
        complaint=answered, actor=curator, body="您好，我们已联系门店核实，48 小时内回复处理结果。"
    )
    not_upheld = standing.complaint_file(
        member=v[3].member, redemption=v[3], category="other", text="菜量比上次少。", now=now - timedelta(days=2)
    )
    standing.complaint_resolve(
        complaint=not_upheld,
        actor=curator,
        now=now - timedelta(days=2) + timedelta(hours=20),
        outcome="not_upheld",
        note="门店出品分量符合菜单标注，感谢反馈。",
    )

    # Two upheld "refused the card" complaints at the warned shop: the daily job finds them.
    for visit in _visits(warned)[:2]:
        complaint = standing.complaint_file(
            member=visit.member,
            redemption=visit,
            category="refused_card",
            text="店员说今天不能用小红卡，拒绝打折。",
            now=now - timedelta(days=3),
        )
        standing.complaint_resolve(
            complaint=complaint,
            actor=curator,
            now=now - timedelta(days=3) + timedelta(hours=6),
            outcome="upheld",
            note="经核实门店拒收会员卡，已要求整改。",
        )

    # Expired licences: one shop will be removed, the other appeals.
    for merchant in (removed, appealed):
        MerchantLicence.objects.update_or_create(
            merchant=merchant,
            kind=MerchantLicence.Kind.FOOD,
            defaults={"number": merchant.food_licence or "JY-DEMO", "expires_on": now.date() - timedelta(days=10)},
        )
    standing.removal_rules_evaluate()
    removal = Finding.objects.filter(merchant=removed, state=Finding.State.OPEN).first()
    if removal is not None:
        standing.finding_remove(finding=removal, actor=curator, reason="食品经营许可证过期且未在整改期内更新（演示）。")
    appeal_finding = Finding.objects.filter(merchant=appealed, state=Finding.State.OPEN).first()
    owner = MerchantStaff.objects.filter(merchant=appealed, role="owner").select_related("user").first()
    if appeal_finding is not None and owner is not None:
        standing.appeal_file(
            finding=appeal_finding, actor=owner.user, text="新许可证已于上周办理，附件已发给审核员邮箱。"
        )
    del connection.run_on_commit[pending:]  # demo notices stay in-app; no e-mail
    owner_of_warned = MerchantStaff.objects.filter(merchant=warned, role="owner").select_related("user").first()
    if owner_of_warned is not None:
        out.append((f"merchant owner (warned: {warned.name_zh})", owner_of_warned.user.email, DEMO_PASSWORD))
    out.append(("member with complaints", v[1].member.email, DEMO_PASSWORD))
