"""factory-boy factories, one module per app, all re-exported here."""

from .core import GroupFactory, PartnerApplicationFactory, UserFactory, access_token_for
from .merchants import (
    CategoryFactory,
    CityCategoryFactory,
    CityFactory,
    DistrictFactory,
    MerchantFactory,
    MerchantStaffFactory,
    valid_uscc,
)

__all__ = [
    "CategoryFactory",
    "CityCategoryFactory",
    "CityFactory",
    "DistrictFactory",
    "GroupFactory",
    "MerchantFactory",
    "MerchantStaffFactory",
    "PartnerApplicationFactory",
    "UserFactory",
    "access_token_for",
    "valid_uscc",
]
