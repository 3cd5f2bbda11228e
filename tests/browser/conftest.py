"""
Browser tests: headless Chromium from Debian (/usr/bin/chromium and
/usr/bin/chromedriver), driven by Selenium, against pytest-django's live
server. Nothing is downloaded at run time: the driver is given by path, so
Selenium Manager never runs.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.test import override_settings

CHROMIUM = Path(os.environ.get("DJANGO_JOBS_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DJANGO_JOBS_CHROMEDRIVER", "/usr/bin/chromedriver"))
WINDOW = (1440, 900)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium against a live server (tests/browser)")


def missing():
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {package})"
    return None


def pytest_collection_modifyitems(config, items):
    reason = missing()
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"browser tests: {reason}"))


#: The test settings have no STATIC_URL (nor django.contrib.staticfiles): pages
#: served to the browser link their CSS under /static/.
STATIC = {"STATIC_URL": "/static/"}


@pytest.fixture(autouse=True)
def static_url():
    with override_settings(**STATIC):
        yield


@pytest.fixture(scope="session")
def live_server(request):
    """
    pytest-django's live server, also serving the apps' static files (the
    admin's CSS, django_jobs/admin.css): the test settings have no
    django.contrib.staticfiles, so the server gets its handler by hand.
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost", start=False)
    server.thread.static_handler = StaticFilesHandler
    with override_settings(**STATIC):  # the handler reads STATIC_URL as the server starts
        server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="django-jobs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium, live_server):
    """The session's Chromium, logged out, with a helper to open admin pages."""
    chromium.get(live_server.url + "/admin/login/")
    chromium.delete_all_cookies()
    chromium.set_window_size(*WINDOW)
    chromium.live_server = live_server
    yield chromium
    chromium.delete_all_cookies()


@pytest.fixture
def screenshots(tmp_path):
    """Where screenshots go: $DJANGO_JOBS_SCREENSHOTS (docs/screenshots for the docs), else a temporary folder."""
    folder = Path(os.environ.get("DJANGO_JOBS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
