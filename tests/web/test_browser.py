"""The web view in a real headless browser: Debian's chromium driven by Selenium, against
``wfcore web`` run as a subprocess on a free loopback port.

Screenshots of each page go to a temporary folder, or to ``$WFCORE_SCREENSHOTS`` when set
(``WFCORE_SCREENSHOTS=docs/screenshots`` refreshes the ones docs/operations.md shows).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.redis_server import free_port
from tests.web import apps
from wfcore import WorkflowStatus, open_store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _need_chromium() -> None:
    # scripts/test installs them; locally without root a missing browser skips, CI fails.
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        reason = f"{', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need chromium in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, apps.Demo]]:
    """``wfcore web`` on a SQLite store holding the demo workflows (50-child fan-out)."""
    _need_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'web.sqlite3'}"
    store = open_store(url)
    demo = apps.build(store, children=50)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "wfcore.cli", "web", "--store", url, "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, server)
        yield base, demo
    finally:
        server.terminate()
        server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()
        store.close()


def _wait_until_serving(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None
            pytest.fail(f"wfcore web exited: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{base}/api/workflows?limit=1", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("wfcore web did not answer within 30 s")


@pytest.fixture(scope="module")
def browser(site: tuple[str, apps.Demo]) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)  # fmt: skip
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except WebDriverException as exc:
        pytest.fail(f"chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Callable[[webdriver.Chrome, str], Path]:
    folder = Path(os.environ.get("WFCORE_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)

    def save(driver: webdriver.Chrome, name: str) -> Path:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(int(height) + 40, 600), 2400))
        path = folder / f"{name}.png"
        assert driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000  # a rendered page, not a blank one
        driver.set_window_size(1400, 1000)
        return path

    return save


def _wait(driver: webdriver.Chrome, seconds: float = 10) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, seconds)


@dataclass
class Visit:
    """The browser on the served view, the demo workflows, and the screenshot taker."""

    base: str
    demo: apps.Demo
    driver: webdriver.Chrome
    shoot: Callable[[webdriver.Chrome, str], Path]

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def status(self) -> str:
        return str(self.driver.find_element(By.ID, "status").text)

    def screenshot(self, name: str) -> None:
        self.shoot(self.driver, name)


@pytest.fixture
def visit(
    site: tuple[str, apps.Demo],
    browser: webdriver.Chrome,
    shoot: Callable[[webdriver.Chrome, str], Path],
) -> Visit:
    return Visit(site[0], site[1], browser, shoot)


def test_list_page(visit: Visit) -> None:
    browser, demo = visit.driver, visit.demo
    visit.open("/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#workflows tbody tr")
    assert len(rows) == 50  # a page of the 55 workflows
    assert browser.find_element(By.ID, "next-page").is_displayed()
    visit.screenshot("list")
    select = browser.find_element(By.NAME, "status")
    select.find_element(By.CSS_SELECTOR, "option[value=FAILED]").click()
    browser.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    _wait(browser).until(expected_conditions.url_contains("status=FAILED"))
    links = browser.find_elements(By.CSS_SELECTOR, "#workflows tbody td:first-child a")
    assert [link.text for link in links] == [demo.failed]
    links[0].click()
    _wait(browser).until(expected_conditions.url_contains(f"/workflows/{demo.failed}"))
    assert "order A-1 cannot be shipped" in browser.find_element(By.ID, "error").text
    visit.screenshot("workflow-failed")


def test_workflow_page_with_a_50_child_tree(visit: Visit) -> None:
    browser, demo = visit.driver, visit.demo
    visit.open(f"/workflows/{demo.fanout}")
    assert visit.status() == "COMPLETED"
    children = browser.find_elements(By.CSS_SELECTOR, "#child-workflows > li")
    assert len(children) == 50
    assert all("COMPLETED" in child.text and "web.leaf" in child.text for child in children)
    lanes = browser.find_elements(By.CSS_SELECTOR, "#timeline .lane")
    assert len(lanes) == 1  # the fan-out's own invocation; each child is a workflow
    history = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    assert sum("start_task" in row.text for row in history) == 50
    assert "fanout-order-17" in browser.find_element(By.ID, "identity").text
    visit.screenshot("workflow-tree")
    children[7].find_element(By.TAG_NAME, "a").click()
    _wait(browser).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "identity"), demo.fanout)
    )


def test_cancel_from_the_page(visit: Visit) -> None:
    browser, demo = visit.driver, visit.demo
    visit.open(f"/workflows/{demo.sleeper}")
    assert visit.status() == "SUSPENDED"
    suspended = browser.find_elements(By.CSS_SELECTOR, "#timeline .track .span.suspended")
    assert len(suspended) == 1
    visit.screenshot("workflow-running")
    browser.find_element(By.ID, "cancel").click()
    _wait(browser).until(expected_conditions.alert_is_present()).accept()
    notice = _wait(browser).until(
        expected_conditions.visibility_of_element_located((By.ID, "notice"))
    )
    assert notice.text == "cancellation requested"
    record = demo.runner.store.get_workflow(demo.sleeper)
    assert record is not None
    assert record.cancel_requested
    # The view has no queue of its own: the sleeper sees the flag when its timer wakes it
    # (a worker's recovery sweep, or --app, would wake it at once).
    demo.runner.run_until_idle()
    assert apps.status(demo.runner.store, demo.sleeper) is WorkflowStatus.CANCELLED
    # The open page follows the workflow without a reload.
    _wait(browser).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "status"), "CANCELLED")
    )
    assert not browser.find_elements(By.ID, "cancel")
    visit.screenshot("workflow-cancelled")
