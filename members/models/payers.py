"""What a gateway knows a member by: the WeChat openid WeChat Pay's JSAPI checkout needs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WeChatOpenid(models.Model):
    """The member's openid for one WeChat application (official account), from WeChat's web sign-in
    (``members.payments.wechat_signin``): WeChat Pay's JSAPI orders name the payer by it. One per member and
    application; an openid is personal to the WeChat user and the app, nothing else is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wechat_openids", verbose_name=_("member")
    )
    app_id = models.CharField(_("WeChat app id"), max_length=32)
    openid = models.CharField(_("openid"), max_length=128)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("WeChat openid")
        verbose_name_plural = _("WeChat openids")
        constraints = [models.UniqueConstraint(fields=["user", "app_id"], name="members_one_openid_per_app")]

    def __str__(self) -> str:
        return f"{self.app_id} {self.openid}"
