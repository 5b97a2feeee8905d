from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, lookups  # noqa: F401  (registers ``__any`` and the deploy checks)
        from .events import pages  # noqa: F401  (fills the shop page's sections slot: core.links)
