"""The console (Django admin) is locked: people sign in through allauth, so its login limits apply, and
everyone who can reach the console (``is_staff``) works there only in a session that passed a second factor
(``allauth.mfa``: an authenticator app (TOTP), a security key or passkey (WebAuthn), or a recovery code).

- ``/admin/login/`` sends the visitor to allauth's login page (``ACCOUNT_RATE_LIMITS``: failed logins per
  address and per account) and back to the console afterwards.
- ``ConsoleRequiresMFAMiddleware``: a staff person without an authenticator is sent to enrol one
  (``/accounts/2fa/``); one whose session has not used it (signed in before enrolling, or a session made by
  other means) is asked for it again (``mfa_reauthenticate``).
- Enrolling proves the factor (a TOTP code or a WebAuthn registration was just verified), so the enrolment is
  recorded as this session's second factor: the person goes on to the console without signing in again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

CONSOLE_PREFIX = "/admin/"
#: Console pages a staff person may open before the second factor: leaving.
OPEN_BEFORE_MFA = ("/admin/login/", "/admin/logout/")
#: Authenticator types that count as a second factor (recovery codes only stand in for one at login).
SECOND_FACTORS = ("totp", "webauthn")


def console_login(request: HttpRequest) -> HttpResponse:
    """``/admin/login/``: allauth's login page, then back to where the console sent the person."""
    target = request.GET.get("next") or CONSOLE_PREFIX
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = CONSOLE_PREFIX
    return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': target})}")


def reaches_console(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def has_second_factor(user: Any) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


def session_used_second_factor(request: HttpRequest) -> bool:
    from allauth.account.authentication import get_authentication_records

    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


class ConsoleRequiresMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(CONSOLE_PREFIX) and not path.startswith(OPEN_BEFORE_MFA) and reaches_console(request.user):
            if not has_second_factor(request.user):
                messages.warning(
                    request,
                    _("The console needs a second factor: add an authenticator app or a security key first."),
                )
                return HttpResponseRedirect(reverse("mfa_index"))
            if not session_used_second_factor(request):
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('mfa_reauthenticate')}?{query}")
        return self.get_response(request)


def record_enrolment_as_second_factor(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``allauth.mfa.signals.authenticator_added``: the factor was just verified in this session."""
    authenticator = kwargs.get("authenticator")
    if request is None or authenticator is None or authenticator.type not in SECOND_FACTORS:
        return
    from allauth.account.internal.flows.login import record_authentication

    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)
