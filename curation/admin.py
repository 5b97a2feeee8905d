"""The curation part of the console, one module per domain; Django's admin autodiscovery imports this module."""

from .intake import admin as intake_admin
from .ops import admin as ops_admin
from .standing import admin as standing_admin
from .wanted import admin as wanted_admin

__all__ = ["intake_admin", "ops_admin", "standing_admin", "wanted_admin"]
