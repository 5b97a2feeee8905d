"""The redemptions part of the console, one module per domain; Django's admin autodiscovery imports this module."""

from .attribution import admin as attribution_admin
from .counter import admin as counter_admin

__all__ = ["attribution_admin", "counter_admin"]
