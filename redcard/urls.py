"""URLs: pages at the root, the API under /api/v1/, OAuth 2 under /o/."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from oauth2_provider import views as oauth2_views

from core import views as core_views
from core.console import console_login
from core.metrics import metrics_view

admin.site.site_header = _("RedCard console")
admin.site.site_title = _("RedCard console")
admin.site.index_title = _("Curation and operations")

handler400 = "core.views.handler400"
handler403 = "core.views.handler403"
handler404 = "core.views.handler404"
handler500 = "core.views.handler500"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("livez", core_views.livez, name="livez"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("notices/", core_views.notices, name="notices"),
    path("notices/read/", core_views.notices_mark_read, name="notices_mark_read"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("allauth.urls")),
    # The console signs people in through allauth (its login limits, then the second factor: core.console).
    path("admin/login/", console_login, name="console_login"),
    path("admin/", admin.site.urls),
    # Partner apps: client credentials only (no authorization-code pages).
    path("o/token/", oauth2_views.TokenView.as_view(), name="oauth2_token"),
    path("o/revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="oauth2_revoke_token"),
    path("api/v1/", include("redcard.api_urls")),
    path("membership/", include("members.urls")),
    path("merchants/", include("merchants.urls")),
    path("r/", include("redemptions.urls")),
    path("curation/", include("curation.urls")),
]
