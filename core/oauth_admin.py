"""Admin for partner applications (loaded by django-oauth-toolkit's admin module)."""

from oauth2_provider.admin import ApplicationAdmin

from core.admin import HistoryAdminMixin


class PartnerApplicationAdmin(HistoryAdminMixin, ApplicationAdmin):
    """Partner apps are created here; ``allowed_scopes`` limits what their tokens reach."""

    list_display = ("name", "client_id", "allowed_scopes", "created")
    search_fields = ("name", "client_id")
