"""End to end: the built site opened from file:// in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium): sorting by a column header changes the order, the filter
hides rows, the console stays clean, and a screenshot is saved."""

from __future__ import annotations

import shutil

import pytest
from fixtures.report.make_fixture import small

from bench.report import build

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (apt-get install)")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # no driver download: the path is given
    yield driver
    driver.quit()


def _column(driver, table_id: str, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows)"
        ".filter(r => !r.hidden).map(r => r.cells[arguments[1]].textContent.trim());", table_id, index)


def _percent(cell: str) -> float:
    """The accuracy a cell shows first: "86.15% [82.42–89.20%]" is 86.15."""
    return float(cell.split("%")[0])


def test_sort_filter_console_and_screenshot(browser, tmp_path):
    from selenium.webdriver.common.by import By

    site = tmp_path / "site"
    build(small(tmp_path / "store"), site, pdf=False)
    browser.get((site / "index.html").as_uri())
    headers = browser.find_elements(By.CSS_SELECTOR, "#runs-table thead th")
    names = [h.text for h in headers]
    col = names.index("test acc")
    before = _column(browser, "runs-table", col)

    headers[col].find_element(By.TAG_NAME, "button").click()
    ascending = _column(browser, "runs-table", col)
    assert ascending != before
    numbers = [_percent(x) for x in ascending if x != "–"]
    assert numbers == sorted(numbers) and ascending[-1] == "–"  # blanks (failed runs) last
    assert headers[col].get_attribute("aria-sort") == "ascending"
    headers[col].find_element(By.TAG_NAME, "button").click()
    descending = [_percent(x) for x in _column(browser, "runs-table", col) if x != "–"]
    assert descending == sorted(descending, reverse=True)

    box = browser.find_element(By.ID, "runs-filter-input")
    box.send_keys("fashion diverged")
    assert len(_column(browser, "runs-table", 0)) == 1
    box.clear()
    box.send_keys(" ")

    shot = tmp_path / "site.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    browser.get((site / "runs" / sorted((site / "runs").iterdir())[0].name).as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Run ")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
