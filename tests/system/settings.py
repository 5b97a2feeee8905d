"""The system test's settings: production's (``redcard.settings.production``, everything from the environment the
test gives each process), with two differences, both for the test's clock and not for what it checks:

- payments and refunds go through the sandbox gateway, which production refuses (Alipay and WeChat Pay would
  need their loopback test gateways here; the suspension benchmark refunds through the sandbox too);
- the catch-up jobs (the counter's outbox, the refund reconciliation) run every few seconds instead of every
  minute or two, so the test sees them drain what an outage left without waiting minutes.
"""

from redcard.settings.production import *  # noqa: F403
from redcard.settings.production import CELERY_BEAT_SCHEDULE

MEMBERS_PAYMENT_PROVIDER = "sandbox"
MEMBERS_SANDBOX_ENABLED = True

CATCH_UP_SECONDS = 3
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "redemptions.outbox_catch_up": {
        **CELERY_BEAT_SCHEDULE["redemptions.outbox_catch_up"],
        "schedule": CATCH_UP_SECONDS,
    },
    "members-reconcile-refunds": {**CELERY_BEAT_SCHEDULE["members-reconcile-refunds"], "schedule": CATCH_UP_SECONDS},
}
