import pytest

from curation.models import Application
from merchants.models import Merchant, MerchantStaff

pytestmark = pytest.mark.django_db


def test_demo_seeds_merchants_and_every_application_state_idempotently():
    from core import demo as core_demo
    from curation import demo as curation_demo
    from curation.intake.demo import APPLICANTS
    from merchants import demo as merchants_demo

    out: list = []
    for module in (core_demo, merchants_demo, curation_demo):
        module.seed(out)
    merchants = Merchant.objects.count()
    assert 55 <= merchants <= 65
    assert set(Merchant.objects.values_list("city__code", flat=True)) == {"shanghai", "hangzhou", "guangzhou"}
    assert set(Application.objects.values_list("state", flat=True)) == set(Application.State.values)
    staff_logins = [row for row in out if row[0].startswith("merchant staff")]
    assert len(staff_logins) == 2
    for _role, email, password in staff_logins:
        assert password == "redcard-demo"
        assert MerchantStaff.objects.filter(user__email=email, role="staff").exists()
    for module in (core_demo, merchants_demo, curation_demo):
        module.seed([])
    assert Merchant.objects.count() == merchants
    assert Application.objects.count() == len(APPLICANTS)
