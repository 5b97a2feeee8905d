from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RedemptionsConfig(AppConfig):
    name = "redemptions"
    verbose_name = _("Redemptions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (fills the link slots of lower apps' pages: core.links)
