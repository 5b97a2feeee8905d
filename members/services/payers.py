"""What gateways know members by: the WeChat openid kept from WeChat's web sign-in (JSAPI checkout)."""

from __future__ import annotations

from django.db import transaction

from core.models import User
from core.services import audit_record

from ..models import WeChatOpenid


def wechat_openid_keep(*, user: User, app_id: str, openid: str) -> WeChatOpenid:
    """Keep ``openid`` as the member's for the WeChat application ``app_id`` (one per member and app: a new
    sign-in replaces the old one). Audited without the openid itself."""
    with transaction.atomic():
        row, created = WeChatOpenid.objects.select_for_update().get_or_create(
            user=user, app_id=app_id, defaults={"openid": openid}
        )
        if not created and row.openid != openid:
            row.openid = openid
            row.save(update_fields=["openid", "updated_at"])
        elif not created:
            return row
        audit_record(actor=user, action="members.wechat_openid_keep", obj=row, after={"app_id": app_id, "new": created})
    return row
