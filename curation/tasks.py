"""Background jobs of the curation app (thin: they call services)."""

from .standing_tasks import evaluate_removal_rules, ops_rollup  # noqa: F401  (issue 7: registered with Celery)
