"""Permissions of the curator and operator groups on this app's models."""

PERMISSIONS = {
    "curator": ["merchants.view_city", "merchants.view_district", "merchants.view_category"],
    "operator": [
        f"merchants.{verb}_{model}" for model in ("city", "district", "category") for verb in ("view", "add", "change")
    ],
}
