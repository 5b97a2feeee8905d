import pytest
from django.contrib.auth.models import Group

from tests.factories import CityCategoryFactory, CityFactory, UserFactory


@pytest.fixture
def curator(db):
    person = UserFactory(is_staff=True, display_name="审核员")
    person.groups.add(Group.objects.get(name="curator"))
    return person


@pytest.fixture
def open_city(db):
    city = CityFactory()
    CityCategoryFactory(city=city)
    return city


@pytest.fixture(autouse=True)
def _admission_rules(request):
    """Version 1 of each rule, as the data migration installs it (a transactional test flushes it)."""
    if request.node.get_closest_marker("django_db") is not None:
        from curation.intake.services import rules_install_defaults

        rules_install_defaults()
