"""Permissions of the curator and operator groups on the intake models.

Curators run the intake (``change_application`` is what :mod:`curation.intake.services` checks before a decision)
and keep the admission rules; operators read everything.
"""

PERMISSIONS = {
    "curator": [
        "curation.view_application",
        "curation.change_application",
        "curation.view_admissionrule",
        "curation.add_admissionrule",
        "curation.change_admissionrule",
        "curation.view_ruleresult",
        "curation.view_sitevisit",
        "curation.add_sitevisit",
        "curation.change_sitevisit",
        "curation.view_decision",
    ],
    "operator": [
        "curation.view_application",
        "curation.view_admissionrule",
        "curation.view_ruleresult",
        "curation.view_sitevisit",
        "curation.view_decision",
    ],
}
