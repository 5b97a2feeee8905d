"""Roles held as Django groups, with their permissions kept in code.

Member and merchant roles are data (a subscription; ``merchants.MerchantStaff``).
Curators and operators work in Django admin; their permissions are listed here
as ``app_label.codename`` and synchronised after every ``migrate``.
"""

from __future__ import annotations

from typing import Any

CURATOR = "curator"
OPERATOR = "operator"

#: group -> permissions ("app_label.codename"); apps append to these lists.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    CURATOR: ["core.view_auditentry", "core.view_user", "core.view_notification"],
    OPERATOR: [
        "core.view_auditentry",
        "core.view_user",
        "core.change_user",
        "core.view_notification",
        "core.view_partnerapplication",
        "core.add_partnerapplication",
        "core.change_partnerapplication",
    ],
}


def sync_role_groups(**kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.add(*wanted)


ROLE_PERMISSIONS[CURATOR] += ["merchants.view_city", "merchants.view_district", "merchants.view_category"]
ROLE_PERMISSIONS[OPERATOR] += [
    f"merchants.{verb}_{model}" for model in ("city", "district", "category") for verb in ("view", "add", "change")
]
