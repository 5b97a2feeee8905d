"""Permissions of the curator and operator groups on this app's models."""

_MODELS = ("redemption", "refusedscan", "claim", "nfctag", "surgeflag")

PERMISSIONS = {
    "curator": [f"redemptions.view_{model}" for model in _MODELS] + ["redemptions.change_surgeflag"],
    "operator": [f"redemptions.view_{model}" for model in _MODELS]
    + ["redemptions.change_redemption", "redemptions.change_surgeflag", "redemptions.change_nfctag"],
}
