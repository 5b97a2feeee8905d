"""The member's whole journey in real Chromium: join, pay in the sandbox, active card, cancel,
undo, then an operator refunds in admin and the member sees it."""

import pytest
from django.contrib.auth.models import Group
from selenium.webdriver.common.by import By

from members.models import Subscription
from tests.e2e.conftest import browser, console_errors, sign_in, submit  # noqa: F401  (fixture)
from tests.factories import UserFactory
from tests.factories.members import PlanFactory, TrialPlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def click(driver, selector):
    driver.find_element(By.CSS_SELECTOR, selector).click()


def test_join_pay_cancel_undo_refund_in_the_browser(live_server, browser):  # noqa: F811
    PlanFactory()
    TrialPlanFactory()
    member = UserFactory()
    driver = browser()
    sign_in(driver, live_server, member)

    driver.get(live_server.url + "/membership/join/")
    submit(driver, "button[value=annual]")
    assert "/membership/sandbox/checkout/" in driver.current_url
    assert "¥168" in driver.page_source
    submit(driver, "button[value=pay]")
    assert driver.current_url.endswith("/r/card/")  # paid: straight to the card at the counter
    driver.get(live_server.url + "/membership/")
    assert driver.find_element(By.CSS_SELECTOR, ".member-state").get_attribute("data-state") == "active"
    assert "本年已省 ¥0 / 年费 ¥168" in driver.page_source

    submit(driver, "form[action='/membership/cancel/'] button")
    assert driver.find_element(By.CSS_SELECTOR, ".member-state").get_attribute("data-state") == "cancel_at_period_end"
    submit(driver, "form[action='/membership/undo-cancel/'] button")
    assert driver.find_element(By.CSS_SELECTOR, ".member-state").get_attribute("data-state") == "active"

    # the auto-renew switch saves itself (members.js), no button needed
    submit(driver, "input[name=auto_renew]")  # members.js submits the form on change: a new page loads
    assert Subscription.objects.get(user=member).auto_renew is False
    assert [e for e in console_errors(driver) if "favicon.ico" not in e] == []

    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    ops = browser()
    sign_in(ops, live_server, operator)
    ops.get(live_server.url + "/admin/members/subscription/")
    click(ops, "input[name=_selected_action]")
    ops.find_element(By.CSS_SELECTOR, "select[name=action] option[value=refund_prorated]").click()
    submit(ops, "button[name=index]")
    ops.find_element(By.NAME, "reason").send_keys("会员申请退款")
    submit(ops, "input[type=submit]")
    assert Subscription.objects.get(user=member).state == "refunded"

    driver.get(live_server.url + "/membership/")
    assert driver.find_element(By.CSS_SELECTOR, ".member-state").get_attribute("data-state") == "refunded"
    assert "会员申请退款" in driver.page_source
