"""Error reporting to Sentry when ``SENTRY_DSN`` is set (settings): Django and Celery errors, tagged with the
request id that the logs and the ``X-Request-ID`` header carry (core.logs), without personal data."""

from __future__ import annotations

from typing import Any


def _tag_request(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    from core.logs import current

    context = current()
    if context is not None:
        event.setdefault("tags", {})["request_id"] = context[0]
    return event


def init_sentry(*, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        before_send=_tag_request,  # type: ignore[arg-type]
    )
