"""Permissions of the curator and operator groups on this app's models."""

_REFERENCE = ("city", "district", "category", "citycategory")

PERMISSIONS = {
    "curator": [
        *(f"merchants.view_{model}" for model in _REFERENCE),
        "merchants.view_merchant",
        "merchants.change_merchant",
        "merchants.view_offer",
        "merchants.view_offerchange",
        "merchants.change_offerchange",
        "merchants.view_merchantphoto",
        "merchants.change_merchantphoto",
        "merchants.view_merchantstaff",
        "merchants.view_merchantday",
    ],
    "operator": [
        *(f"merchants.{verb}_{model}" for model in _REFERENCE for verb in ("view", "add", "change")),
        "merchants.view_merchant",
        "merchants.change_merchant",
        "merchants.view_offer",
        "merchants.view_offerchange",
        "merchants.view_merchantphoto",
        "merchants.view_merchantstaff",
        "merchants.add_merchantstaff",
        "merchants.change_merchantstaff",
        "merchants.delete_merchantstaff",
        "merchants.view_merchantday",
        "merchants.view_partnergrant",
        "merchants.add_partnergrant",
        "merchants.change_partnergrant",
        "merchants.delete_partnergrant",
    ],
}
