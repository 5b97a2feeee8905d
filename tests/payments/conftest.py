import pytest

from tests.factories.members import PlanFactory
from tests.payments.alipay_gateway import AlipayGateway, new_key, private_pem, public_pem

APP_ID = "2021000122671234"
NOTIFY_PATH = "/api/v1/payments/notify/alipay/"


@pytest.fixture(scope="session")
def app_key():
    """Our application's RSA2 key pair (made here; Alipay holds the public half)."""
    return new_key()


@pytest.fixture(scope="session")
def alipay_server(app_key):
    gateway = AlipayGateway(app_id=APP_ID, app_public_key=app_key.public_key())
    yield gateway
    gateway.close()


@pytest.fixture
def alipay(alipay_server, app_key, settings, tmp_path, db):
    """Alipay selected and configured (key files written for the test), the local gateway fresh."""
    alipay_server.reset()
    (tmp_path / "app_private_key.pem").write_bytes(private_pem(app_key))
    (tmp_path / "alipay_public_key.pem").write_bytes(public_pem(alipay_server.key))
    settings.MEMBERS_PAYMENT_PROVIDER = "alipay"
    settings.MEMBERS_SANDBOX_ENABLED = False
    settings.ALIPAY_APP_ID = APP_ID
    settings.ALIPAY_SELLER_ID = alipay_server.seller_id
    settings.ALIPAY_APP_PRIVATE_KEY_PATH = str(tmp_path / "app_private_key.pem")
    settings.ALIPAY_PUBLIC_KEY_PATH = str(tmp_path / "alipay_public_key.pem")
    settings.ALIPAY_NOTIFY_URL = "http://testserver" + NOTIFY_PATH
    settings.ALIPAY_GATEWAY = alipay_server.url
    settings.ALIPAY_TIMEOUT = 0.5
    PlanFactory()
    yield alipay_server
    alipay_server.faults.clear()
