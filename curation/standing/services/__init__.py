"""Every write of merchant standing, by concern: :mod:`.complaints` (filing, replies, outcomes and their SLA),
:mod:`.findings` (warn, clear, suspend, remove, and the one appeal), :mod:`.evaluation` (the daily run of the
removal rules); :mod:`.common` holds what they share.

Functions are keyword-only, open their own transaction, lock what guards an invariant, record the audit entry and
send notices (e-mail + in-app) through ``core.services.notify``. Listing states change only through
``merchants.services.merchant_transition``. Errors are ``DomainError`` with the codes of
:mod:`curation.standing.errors`. The names below are the package's public surface (``standing.complaint_file``).
"""

from .common import MAX_PHOTO_BYTES, MAX_TEXT, is_curator, sla_first_response, sla_resolution
from .complaints import (
    complaint_assign,
    complaint_file,
    complaint_merchant_answer,
    complaint_reply,
    complaint_resolve,
    photo_kind,
)
from .evaluation import EvaluationReport, evaluation_day, removal_rules_evaluate, removal_rules_install_defaults
from .findings import (
    FINDING_ADVICE,
    appeal_decide,
    appeal_file,
    evidence_summary,
    finding_clear,
    finding_open,
    finding_remove,
    finding_suspend,
)

__all__ = [
    "FINDING_ADVICE",
    "MAX_PHOTO_BYTES",
    "MAX_TEXT",
    "EvaluationReport",
    "appeal_decide",
    "appeal_file",
    "complaint_assign",
    "complaint_file",
    "complaint_merchant_answer",
    "complaint_reply",
    "complaint_resolve",
    "evaluation_day",
    "evidence_summary",
    "finding_clear",
    "finding_open",
    "finding_remove",
    "finding_suspend",
    "is_curator",
    "photo_kind",
    "removal_rules_evaluate",
    "removal_rules_install_defaults",
    "sla_first_response",
    "sla_resolution",
]
