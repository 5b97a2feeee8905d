"""Group permissions on the standing models (merged into :data:`curation.roles.PERMISSIONS`).

Curators handle complaints, findings and appeals and keep the removal rules and licences; operators read
everything, including the operations overview (the ``OpsDailyTotal`` changelist).
"""

_MODELS = ["complaint", "complaintmessage", "removalrule", "finding", "appeal", "merchantlicence", "evaluationrun"]

PERMISSIONS: dict[str, list[str]] = {
    "curator": [
        *(f"curation.view_{m}" for m in _MODELS),
        "curation.change_complaint",
        "curation.change_finding",
        "curation.change_appeal",
        "curation.add_removalrule",
        "curation.change_removalrule",
        "curation.add_merchantlicence",
        "curation.change_merchantlicence",
        "curation.view_opsdailytotal",
    ],
    "operator": [*(f"curation.view_{m}" for m in _MODELS), "curation.view_opsdailytotal"],
}
