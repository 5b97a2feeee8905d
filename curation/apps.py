from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = _("Curation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from . import hooks  # noqa: F401  (fills the link slots of lower apps' pages: core.links)

        # The console's first page opens with the curators' queue (curation/ops/queue.py).
        admin.site.index_template = "curation/admin/index.html"
