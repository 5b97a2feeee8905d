"""Credentials out of access logs: gunicorn's logger with credential values masked in the request line.

Nothing of ours puts a credential in a URL (the scanner's claim feed sends its token in the
``X-Claim-Feed-Token`` header), but a request line is written as the client sent it: an old scanner page still
open after a deployment, or a client that puts a token in the query string, would leave a live credential in
every access log that keeps the line. ``RedactingLogger`` (``logger_class`` in ``gunicorn.conf.py``) writes
such a value as ``[redacted]``: query parameters named like credentials in ``%(r)s``, ``%(q)s`` and the
raw URI, and credential headers should a format ever name them. Django's own request log (``django.request``,
through :mod:`core.logs`) writes the path without the query string.

Pure Python without Django: gunicorn loads it before the application.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

MASK = "[redacted]"
#: Query parameters whose value is a credential (compared lowercased).
CREDENTIAL_PARAMETERS = frozenset(
    {
        "t",  # the claim feed's token as scanner pages before the header sent it
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "secret",
        "key",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
#: Request headers that carry credentials (lowercased, as gunicorn names its ``{name}i`` atoms).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-claim-feed-token"})
#: The environ entries that hold the raw request target or credential headers (``{name}e`` atoms).
_URI_ENVIRON = ("raw_uri", "query_string", "request_uri")

_PARAMETER = re.compile(r"(?P<lead>^|[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")


def redact_query(target: str) -> str:
    """``target`` (a request target, a query string or a request line) with the value of every credential
    parameter replaced by :data:`MASK`; everything else as it was."""

    def mask(match: re.Match[str]) -> str:
        if match["name"].lower() not in CREDENTIAL_PARAMETERS or not match["value"]:
            return match[0]
        return f"{match['lead']}{match['name']}={MASK}"

    return _PARAMETER.sub(mask, target)


class RedactingLogger(Logger):
    """gunicorn's logger, its access log atoms without credentials."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_query(atoms[name])
        for name in _URI_ENVIRON:
            key = f"{{{name}}}e"
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_query(atoms[key])
        for header in CREDENTIAL_HEADERS:
            for key in (f"{{{header}}}i", f"{{http_{header.replace('-', '_')}}}e"):
                if atoms.get(key):
                    atoms[key] = MASK
        return atoms
