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
ROLE_PERMISSIONS: dict[str, list[str]] = {  # apps add theirs in <app>/roles.py
    CURATOR: ["core.view_auditentry", "core.view_user", "core.view_notification"],
    OPERATOR: [
        "core.view_auditentry",
        "core.view_user",
        "core.change_user",
        "core.view_notification",
        "core.view_partnerapplication",
        "core.add_partnerapplication",
        "core.change_partnerapplication",
        "core.view_webhookendpoint",
        "core.add_webhookendpoint",
        "core.change_webhookendpoint",
        "core.view_webhookevent",
        "core.view_webhookdelivery",
    ],
}


def all_role_permissions() -> dict[str, list[str]]:
    """Ours plus each installed app's ``<app>.roles.PERMISSIONS`` (same shape)."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps

    merged = {group: list(perms) for group, perms in ROLE_PERMISSIONS.items()}
    for config in apps.get_app_configs():
        if config.name == "core" or find_spec(f"{config.name}.roles") is None:
            continue
        for group, perms in getattr(import_module(f"{config.name}.roles"), "PERMISSIONS", {}).items():
            merged.setdefault(group, []).extend(perms)
    return merged


def sync_role_groups(**kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    for group_name, perms in all_role_permissions().items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.add(*wanted)
