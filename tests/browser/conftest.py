"""Debian's Chromium through Selenium (chromium-driver) against a real board on loopback.

Screenshots of every page a test visits go to ``test-artifacts/screenshots/`` (gitignored),
named after the test. axe-core comes from the npm registry: ``.ci/run`` installs it into
``.cache/axe`` (``npm install --prefix .cache/axe axe-core@4``); ``BRIDGE_AXE_JS`` may
point elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.board.conftest import PASSWORD, board, password_hash  # noqa: F401 - fixtures used here

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_JS = Path(os.environ.get("BRIDGE_AXE_JS", ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {', '.join(names)} is installed: apt-get install -y chromium chromium-driver")


@pytest.fixture(scope="session")
def driver() -> Iterator[webdriver.Chrome]:
    """One headless Chromium with a fresh profile for the session; cookies are cleared per test."""
    profile = tempfile.mkdtemp(prefix="bridge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    chrome = webdriver.Chrome(service=Service(executable_path=_binary("chromedriver")), options=options)
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Browser:
    """The driver, a board, and screenshots named after the running test."""

    def __init__(self, driver, board, name: str) -> None:
        self.driver = driver
        self.board = board
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.shots = 0

    def go(self, path: str) -> None:
        self.driver.get(f"{self.board.url}{path}")
        self.shot()

    def shot(self, label: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}{'-' + label if label else ''}.png"
        self.driver.save_screenshot(str(path))
        return path

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        self.go("/login")
        self.driver.find_element(By.NAME, "username").send_keys(name)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        self.wait(lambda d: "/login" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".error"))
        self.shot("signed-in")

    def wait(self, condition, timeout: float = 30):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)

    def text(self) -> str:
        return self.text_of("body")

    def text_of(self, selector: str) -> str:
        """The rendered text of the first element ``selector`` matches, read in one script
        (a page that swaps its content while polling never hands back a stale element)."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector)

    def axe(self) -> list[dict]:
        """axe-core's serious and critical violations on the current page."""
        assert AXE_JS.exists(), f"{AXE_JS} is missing: npm install --prefix .cache/axe axe-core@4"
        self.driver.execute_script(AXE_JS.read_text())
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
        assert isinstance(result, list), result
        return [{"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"]][:3]}
                for v in result if v.get("impact") in ("serious", "critical")]


@pytest.fixture
def browser(driver, board, request) -> Iterator[Browser]:
    driver.delete_all_cookies()
    yield Browser(driver, board, request.node.name)
    driver.delete_all_cookies()
