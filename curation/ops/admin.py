"""The operations overview in the console: the changelist of ``OpsDailyTotal`` renders the overview page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from curation.models import (
    EvaluationRun,
    OpsDailyTotal,
)

from .charts import chart_geometry
from .selectors import ops_figures


@admin.register(OpsDailyTotal)
class OperationsOverviewAdmin(ReadOnlyAdmin):
    """The admin index lists this as "operations overview"; its changelist is the overview page."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and (user.is_superuser or user.groups.filter(name__in=["curator", "operator"]).exists())
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        overview = ops_figures()
        return TemplateResponse(
            request,
            "curation/standing/admin/overview.html",
            {
                **admin.site.each_context(request),
                "title": _("Operations overview"),
                "overview": overview,
                "charts": [chart_geometry(chart) for chart in overview.charts],
                "opts": self.model._meta,
                "last_run": EvaluationRun.objects.order_by("-evaluated_on").first(),
            },
        )
