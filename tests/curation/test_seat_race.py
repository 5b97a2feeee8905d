"""The last seat of a city is taken once, even when two curators approve at the same moment."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from core.errors import DomainError
from curation.intake.services import application_approve
from curation.models import Application
from merchants.models import Merchant
from tests.factories import CityCategoryFactory, CityFactory, MerchantFactory, UserFactory
from tests.factories.curation import ApplicationFactory


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_approvals_take_the_last_seat_once():
    assert connection.vendor == "postgresql"
    city = CityFactory(seat_quota=2)
    MerchantFactory(city=city)  # one seat already taken: one left
    CityCategoryFactory(city=city)
    curators = [UserFactory(), UserFactory()]
    group = Group.objects.get(name="curator")
    for curator in curators:
        curator.groups.add(group)
    apps = [ApplicationFactory(city=city, state=Application.State.IN_REVIEW) for _ in range(2)]

    barrier = threading.Barrier(2)
    outcomes = []

    def approve(app, curator):
        try:
            barrier.wait()
            application_approve(application=app, actor=curator, message="欢迎", override_reason="")
            outcomes.append("approved")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(a, c)) for a, c in zip(apps, curators, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["approved", "city_full"]
    assert Merchant.objects.filter(city=city).count() == 2
    states = sorted(Application.objects.filter(pk__in=[a.pk for a in apps]).values_list("state", flat=True))
    assert states == ["approved", "in_review"]  # the loser is untouched: nothing half-written
