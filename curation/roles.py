"""Permissions of the curator and operator groups on this app's models, gathered from its domains
(``core.roles`` reads :data:`PERMISSIONS` after ``migrate``)."""

from .intake.roles import PERMISSIONS as _INTAKE
from .standing.roles import PERMISSIONS as _STANDING
from .wanted.roles import PERMISSIONS as _WANTED

PERMISSIONS: dict[str, list[str]] = {}
for _part in (_INTAKE, _STANDING, _WANTED):
    for _group, _perms in _part.items():
        PERMISSIONS.setdefault(_group, []).extend(_perms)
