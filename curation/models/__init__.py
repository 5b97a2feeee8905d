"""The tables of the curation app, one module per domain (app label ``curation``, tables unchanged).

- :mod:`.rules`: ``VersionedRule``, the base of the rules kept as data;
- :mod:`.intake`: applications, admission rules and their results, site visits, decisions;
- :mod:`.standing`: complaints, removal rules, licences, findings, appeals, evaluation runs;
- :mod:`.ops`: the operations overview's roll-ups;
- :mod:`.wanted`: the shops members ask for and their requests.
"""

from .intake import AdmissionRule, Application, Decision, RuleResult, SiteVisit
from .ops import OpsDailyTotal, OpsSnapshot
from .rules import VersionedRule
from .standing import (
    Appeal,
    Complaint,
    ComplaintMessage,
    EvaluationRun,
    Finding,
    MerchantLicence,
    RemovalRule,
    complaint_photo_path,
)
from .wanted import Nomination, WantedShop

__all__ = [
    "AdmissionRule",
    "Appeal",
    "Application",
    "Complaint",
    "ComplaintMessage",
    "Decision",
    "EvaluationRun",
    "Finding",
    "MerchantLicence",
    "Nomination",
    "OpsDailyTotal",
    "OpsSnapshot",
    "RemovalRule",
    "RuleResult",
    "SiteVisit",
    "VersionedRule",
    "WantedShop",
    "complaint_photo_path",
]
