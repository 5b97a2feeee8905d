"""Permissions of the curator and operator groups on this app's models."""

_MODELS = ("redemption", "refusedscan", "claim", "nfctag", "surgeflag", "note", "attributioncredit")

PERMISSIONS = {
    # Curators hide notes (spam, a paid post passed off as a visit): "change" runs the admin's hide action.
    "curator": [f"redemptions.view_{model}" for model in _MODELS]
    + ["redemptions.change_surgeflag", "redemptions.change_note"],
    "operator": [f"redemptions.view_{model}" for model in _MODELS]
    + ["redemptions.change_redemption", "redemptions.change_surgeflag", "redemptions.change_nfctag"]
    + ["redemptions.change_note"],
}
