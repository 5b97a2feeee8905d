"""The app's Celery tasks, one module per domain; Celery's autodiscovery imports this module."""

from .ops.tasks import ops_rollup
from .standing.tasks import evaluate_removal_rules

__all__ = ["evaluate_removal_rules", "ops_rollup"]
