"""Domain errors with stable codes.

Every refusal in RedCard is a ``DomainError`` carrying a ``code`` that never
changes meaning and a human message translated to the caller's language
(zh-Hans by default, English on request). The app that owns a code registers it
once with :func:`register` (a second registration of a code, even with the same
meaning, raises at start-up), so the catalogue of codes is complete and
documented; the API maps the error to ``application/problem+json`` and pages
show the message. A caller that speaks to another audience than the code's
message (staff at the counter, say) gives its own wording as the ``detail``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: code -> (HTTP status, lazy human message)
CODES: dict[str, tuple[int, Promise]] = {}


def register(codes: dict[str, tuple[int, Promise]]) -> None:
    """Register stable error codes: each code once, by the app that owns it.

    Raises ``ImproperlyConfigured`` (at import, so at start-up) when a code is registered a second time; nothing
    of ``codes`` is registered then."""
    again = sorted(code for code in codes if code in CODES)
    if again:
        raise ImproperlyConfigured(f"error codes registered twice: {', '.join(again)}")
    CODES.update(codes)


register(
    {
        "invalid_transition": (409, _("This change is not allowed in the object's current state.")),
        "validation_failed": (400, _("Some fields are not valid.")),
        "permission_denied": (403, _("You do not have permission to do this.")),
        "not_found": (404, _("Not found.")),
        "conflict": (409, _("The request conflicts with the current state.")),
        "idempotency_key_reused": (
            422,
            _("This Idempotency-Key was already used with a different request."),
        ),
        "idempotency_key_in_progress": (
            409,
            _("A request with this Idempotency-Key is still being processed; retry shortly."),
        ),
        "idempotency_key_invalid": (400, _("The Idempotency-Key header must be 1 to 255 printable characters.")),
        "invalid_input": (
            400,
            _("The request holds text that cannot be stored (a U+0000 character or invalid Unicode)."),
        ),
        # The database is unreachable (restarting, failing over): the request's transaction did not commit.
        "service_unavailable": (503, _("RedCard is briefly unavailable. Please retry in a moment.")),
    }
)


class DomainError(Exception):
    """A refusal with a stable ``code``.

    ``params`` are interpolated into the message (``%(name)s``) and also
    returned to API clients; ``fields`` holds per-field errors.
    """

    def __init__(
        self,
        code: str,
        detail: str | Promise | None = None,
        *,
        status: int | None = None,
        fields: dict[str, list[dict[str, str]]] | None = None,
        **params: Any,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered error code {code!r}")
        default_status, message = CODES[code]
        self.code = code
        self.status = status or default_status
        self._detail = detail if detail is not None else message
        self.fields = fields or {}
        self.params = params
        super().__init__(code)

    @property
    def detail(self) -> str:
        text = str(self._detail)
        if self.params:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                text = text % self.params
        return text

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    def worded(self, detail: str | Promise) -> DomainError:
        """The same refusal (code, status, fields, parameters) with another wording for its reader."""
        return DomainError(self.code, detail, status=self.status, fields=self.fields, **self.params)


class InvalidTransition(DomainError):
    """A state machine refused a transition."""

    def __init__(self, *, model: str, current: str, target: str) -> None:
        super().__init__(
            "invalid_transition",
            _("Cannot change %(model)s from “%(current)s” to “%(target)s”."),
            model=model,
            current=current,
            target=target,
        )


def field_error(field: str, code: str, message: str | Promise) -> DomainError:
    """A validation failure on one field, as ``validation_failed``."""
    return DomainError("validation_failed", fields={field: [{"code": code, "detail": str(message)}]})
