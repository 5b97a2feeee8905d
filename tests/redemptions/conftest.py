from __future__ import annotations

import pytest

from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter
from tests.factories.redemptions import member_with_card, shop, staff_of


@pytest.fixture
def merchant(db):
    """A listed shop, 12% off, capacity 50, one redemption per member per day, loaded as the views load it."""
    return merchant_by_public_id(public_id=shop().public_id)


@pytest.fixture
def staff(merchant):
    return staff_of(merchant)


@pytest.fixture
def counter(staff):
    return Counter(staff=staff)


@pytest.fixture
def member(db):
    return member_with_card()


@pytest.fixture
def staff_client(staff):
    """An API client signed in as staff of ``merchant``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff)
    return client
