import pytest

from tests.factories.members import PlanFactory, TrialPlanFactory


@pytest.fixture
def plans(db):
    return PlanFactory(), TrialPlanFactory()
