"""factory-boy factories, one module per app, all re-exported here."""

from .core import GroupFactory, PartnerApplicationFactory, UserFactory, access_token_for
from .merchants import CategoryFactory, CityFactory, DistrictFactory

__all__ = [
    "CategoryFactory",
    "CityFactory",
    "DistrictFactory",
    "GroupFactory",
    "PartnerApplicationFactory",
    "UserFactory",
    "access_token_for",
]
