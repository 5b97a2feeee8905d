"""Real Chromium at phone size on a new visitor's paths (issue 14): from the home page to a card in three taps
(the sign-up and payment forms aside), and a signed-out visitor at a shop's QR stand who sees the shop first,
signs in and comes back to the bill."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from members.models import Subscription
from tests.e2e.conftest import console_errors, submit
from tests.factories.core import PASSWORD
from tests.factories.members import PlanFactory, TrialPlanFactory, paid_subscription
from tests.factories.merchants import MerchantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for(driver, css, seconds=20):
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def type_into(driver, name: str, text: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def test_a_new_visitor_goes_from_home_to_a_card_in_three_taps(browser, live_server):
    PlanFactory()
    TrialPlanFactory()
    MerchantFactory(name_zh="弄堂面馆")
    driver = browser()
    driver.get(live_server.url + "/")
    taps = 0

    submit(driver, "a.button.primary[href='/membership/join/']")  # tap 1: 加入小红卡
    taps += 1
    assert "弄堂面馆" in driver.page_source and 'id="terms"' in driver.page_source  # the page sells first
    submit(driver, "section.plan-card[data-plan='annual'] button[type=submit]")  # tap 2: 支付并加入
    taps += 1

    # The sign-up form and the e-mailed code (forms, not taps): the plan is not asked for again.
    assert "/accounts/signup/" in driver.current_url
    type_into(driver, "email", "newcomer@example.com")
    type_into(driver, "password1", "a long pass phrase 42")
    type_into(driver, "password2", "a long pass phrase 42")
    submit(driver, "form button[type=submit]")
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", mail.outbox[-1].body, re.MULTILINE).group(1)
    type_into(driver, "code", code)
    submit(driver, "form button[type=submit]")

    assert "/membership/sandbox/checkout/" in driver.current_url  # checkout followed by itself
    submit(driver, "button[name=action][value=pay]")  # tap 3: the payment
    taps += 1
    wait_for(driver, "#rc-qr svg")
    assert driver.current_url.endswith("/r/card/") and taps == 3
    assert Subscription.objects.get(user__email="newcomer@example.com").state == "active"
    assert not [e for e in console_errors(driver) if "favicon" not in e]


def test_a_signed_out_visitor_at_the_stand_sees_the_shop_then_signs_in_and_comes_back(browser, live_server):
    PlanFactory()
    member = paid_subscription().user
    shop = MerchantFactory(name_zh="街角咖啡", offer__rate_bp=1500)
    driver = browser()
    driver.get(f"{live_server.url}/r/m/{shop.public_id}/claim/")
    page = wait_for(driver, ".rc-claim-form")
    assert "街角咖啡" in page.text and "15%" in page.text
    submit(driver, "#sign-in-to-continue a.button.primary")
    type_into(driver, "login", member.email)
    type_into(driver, "password", PASSWORD)
    submit(driver, "form button[type=submit]")
    wait_for(driver, "#rc-bill")
    assert driver.current_url.endswith(f"/r/m/{shop.public_id}/claim/")
