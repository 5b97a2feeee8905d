import pytest

from tests.factories.members import PlanFactory, TrialPlanFactory

from .wechatpay_gateway import FakeWeChatPay


@pytest.fixture
def plans(db):
    return PlanFactory(), TrialPlanFactory()


@pytest.fixture
def gateway(tmp_path, settings, plans):
    """WeChat Pay selected and configured against a local gateway speaking APIv3 (keys made for the test)."""
    fake = FakeWeChatPay(directory=tmp_path / "wechatpay")
    fake.start()
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    settings.MEMBERS_PAYMENT_PROVIDER = "wechatpay"
    settings.MEMBERS_SANDBOX_ENABLED = False
    yield fake
    fake.stop()
