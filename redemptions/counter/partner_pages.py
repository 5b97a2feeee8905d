"""The member's partner platforms (issue 16): the OAuth-style consent to link a partner, the list of linked
partners ("已关联的合作平台") with an unlink button.

``/r/partners/link/<client_id>/?redirect_uri=…&state=…``: signed in, the member reads the partner's name
and what it may do; consenting redirects to ``redirect_uri`` (which must be one of the application's
registered redirect URIs) with a one-time ``code`` and ``state`` in the query, which the partner's server
exchanges for the member token (``POST /api/v1/redemptions/partner-links/token/``): the token itself never
travels through the browser, so it is in no address bar, access log or Referer header. Declining redirects
with ``error=access_denied``. A redirect URI not registered is never followed (a page says so).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.middleware import build_policy
from core.models import PartnerApplication, User

from .services import partner_orders


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _origin(uri: str) -> tuple[str, ...]:
    """The origin of a registered redirect URI, rebuilt from its parsed parts (nothing else of it reaches the
    header); none when it is not an http(s) URI with a host."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        return ()
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or not all(c.isalnum() or c in ".-:" for c in host):
        return ()
    host = f"[{host}]" if ":" in host else host
    return (f"{parts.scheme}://{host}" + (f":{port}" if port is not None else ""),)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def partner_link(request: HttpRequest, client_id: str) -> HttpResponse:
    application = PartnerApplication.objects.filter(client_id=client_id).first()
    if application is None or not partner_orders.partner_linkable(application=application):
        raise Http404
    redirect_uri = request.GET.get("redirect_uri", "")
    state = request.GET.get("state", "")[:500]
    if not redirect_uri or not application.redirect_uri_allowed(redirect_uri):
        return render(request, "redemptions/partner_link_refused.html", {"application": application}, status=400)
    if request.method == "POST":
        if request.POST.get("decision") != "allow":
            return HttpResponseRedirect(_with_query(redirect_uri, {"error": "access_denied", "state": state}))
        member: User = request.user  # type: ignore[assignment]
        code = partner_orders.partner_link_code_issue(member=member, application=application, redirect_uri=redirect_uri)
        return HttpResponseRedirect(_with_query(redirect_uri, {"code": code, "state": state}))
    page = render(request, "redemptions/partner_link.html", {"application": application})
    # The answer to this page's form redirects to the partner: browsers hold that redirect to form-action.
    page["Content-Security-Policy"] = build_policy(form_action=_origin(redirect_uri))
    return page


@login_required
def partner_links(request: HttpRequest) -> HttpResponse:
    member: User = request.user  # type: ignore[assignment]
    return render(request, "redemptions/partners.html", {"links": partner_orders.partner_links_of(member=member)})


@login_required
@require_POST
def partner_unlink(request: HttpRequest, link_id: UUID) -> HttpResponse:
    member: User = request.user  # type: ignore[assignment]
    if partner_orders.partner_unlink(member=member, link_id=link_id):
        messages.success(request, _("Unlinked. The partner can no longer report visits for you."))
    return redirect("redemptions:partners")
