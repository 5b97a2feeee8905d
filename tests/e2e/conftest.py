"""Real Chromium (Debian's package) driven by Selenium 4 against pytest-django's live_server.

``browser(video=None)`` starts a headless Chromium; with ``video`` (a .y4m file,
see ``tests/e2e/y4m.py``) the camera shows that video. ``sign_in(driver,
live_server, user)`` puts a logged-in session cookie into the browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _have_browser() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() and shutil.which("chromedriver") is not None


def pytest_collection_modifyitems(config, items):
    if _have_browser():
        return
    skip = pytest.mark.skip(reason="Chromium and chromedriver are not installed (bash scripts/setup.sh as root)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def chromium_options(video: Path | None = None, *, language: str = "zh-CN"):
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--no-default-browser-check",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--window-size=420,900",
        f"--lang={language}",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    if video is not None:
        options.add_argument(f"--use-file-for-fake-video-capture={video}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture
def browser() -> Iterator:
    """``browser(video=None)`` -> a WebDriver; every one started is quit after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(video: Path | None = None):
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options(video))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def sign_in(driver, live_server, user) -> None:
    """Log ``user`` in by planting a session cookie (the login form has its own tests)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    if user.is_staff:  # the console lets in only sessions that passed a second factor (core.console)
        from tests.factories.core import second_factor_session

        second_factor_session(session, user)
    driver.get(live_server.url + "/healthz")
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "path": "/"})


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def submit(driver, css: str, *, timeout: float = 20) -> None:
    """Click what ``css`` selects (a submit button, an auto-submitting switch) and wait until a new
    document has replaced the page. A marker variable, not a stale element: on a replaced page
    chromedriver may answer an inspector error instead of a stale-element exception."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__previousPage = true;")
    driver.find_element(By.CSS_SELECTOR, css).click()
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return window.__previousPage === undefined && document.readyState === 'complete'")
    )
