"""The whole intake as people do it, in real Chromium: an owner applies, a curator approves in admin,
the shop appears in the catalogue (near me), and the owner runs offer, capacity and staff."""

import pytest
from django.contrib.auth.models import Group
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from curation.models import Application
from merchants.models import MerchantStaff
from tests.e2e.conftest import browser, console_errors, sign_in, submit  # noqa: F401  (fixtures)
from tests.factories import CategoryFactory, CityCategoryFactory, CityFactory, DistrictFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fill(driver, values):
    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(str(value))
        elif field.get_attribute("type") == "checkbox":
            if field.is_selected() != bool(value):
                field.click()
        else:
            field.clear()
            field.send_keys(value)


def test_owner_applies_curator_approves_shop_is_listed_and_managed(live_server, browser):  # noqa: F811
    from curation.intake.services import rules_install_defaults

    rules_install_defaults()
    city = CityFactory()
    category = CategoryFactory()
    CityCategoryFactory(city=city, category=category)
    district = DistrictFactory(city=city)
    owner = UserFactory(language="zh-hans")
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))

    driver = browser()
    sign_in(driver, live_server, owner)
    driver.get(live_server.url + "/curation/apply/")
    driver.find_element(By.CSS_SELECTOR, "a.button.primary").click()
    steps = [
        {
            "legal_name": "上海阿明餐饮有限公司",
            "name_zh": "阿明咖啡",
            "uscc": "91350100M000100Y43",
            "category": category.pk,
            "food_licence": "JY13101060000123",
        },
        {"city": city.pk, "district": district.pk, "address": "延安西路 1 号", "lat": "31.2290", "lng": "121.4480"},
        {"average_spend_yuan": "50", "external_rating": "4.7", "opening_hours": "mon-sun 00:00-24:00"},
        {"offer_percent": "12", "daily_capacity": "60"},
        {"contact_name": "阿明", "contact_phone": "13800000000"},
    ]
    for index, values in enumerate(steps):
        _fill(driver, values)
        button = "next" if index < len(steps) - 1 else "save"
        submit(driver, f"button[name={button}]")
    submit(driver, "form[action$='/apply/submit/'] button")
    app = Application.objects.get(owner=owner)
    assert app.state == "submitted"
    assert "阿明咖啡" in driver.page_source

    # The curator: checklist, assignment, decision page.
    sign_in(driver, live_server, curator)
    driver.get(f"{live_server.url}/admin/curation/application/{app.pk}/change/")
    assert "rule-checklist" in driver.page_source
    driver.get(f"{live_server.url}/admin/curation/application/{app.pk}/assign/")
    submit(driver, "input[type=submit]")
    driver.get(f"{live_server.url}/admin/curation/application/{app.pk}/decide/approve/")
    _fill(driver, {"message": "欢迎加入小红卡"})
    submit(driver, "input[type=submit]")
    app.refresh_from_db()
    assert app.state == "approved" and app.merchant is not None
    shop = app.merchant

    # A member nearby finds it with "near me" (the browser's location).
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": live_server.url, "permissions": ["geolocation"]})
    driver.execute_cdp_cmd(
        "Emulation.setGeolocationOverride", {"latitude": 31.2300, "longitude": 121.4470, "accuracy": 10}
    )
    driver.get(live_server.url + "/merchants/?city=shanghai")
    submit(driver, "#near-me")  # the script reads the location and submits the filters
    assert "lat=31.23" in driver.current_url
    assert "阿明咖啡" in driver.page_source and "公里" in driver.page_source

    # The owner runs the shop.
    sign_in(driver, live_server, owner)
    driver.get(f"{live_server.url}/merchants/console/{shop.public_id}/")
    _fill(driver, {"percent": "15"})
    submit(driver, "form[action$='/offer/'] button")
    _fill(driver, {"daily_capacity": "30"})
    submit(driver, "form[action$='/capacity/'] button")
    driver.get(f"{live_server.url}/merchants/console/{shop.public_id}/staff/")
    _fill(driver, {"email": "barista@example.com", "role": "staff"})
    submit(driver, "form button.primary")
    shop.refresh_from_db()
    shop.offer.refresh_from_db()
    assert (shop.offer.rate_bp, shop.daily_capacity) == (1500, 30)
    assert MerchantStaff.objects.filter(merchant=shop, user__email="barista@example.com", role="staff").exists()
    # The QR stand is the redemptions app's page, linked from the console through its slot.
    driver.get(f"{live_server.url}/merchants/console/{shop.public_id}/")
    driver.find_element(By.CSS_SELECTOR, f"a[href='/r/scan/{shop.public_id}/stand/']").click()
    assert driver.find_element(By.CSS_SELECTOR, ".rc-stand-qr svg")
    errors = [e for e in console_errors(driver) if "favicon.ico" not in e]  # JSON and admin pages have no icon
    assert errors == [], errors
