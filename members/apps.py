from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchants.hooks import register_merchant_page_section

        from . import checks, lookups  # noqa: F401  (registers ``__any`` and the deploy checks)
        from .events.pages import merchant_events_section

        register_merchant_page_section(merchant_events_section)
