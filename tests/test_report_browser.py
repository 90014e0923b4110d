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


def chrome(width: int, height: int, phone: bool = False):
    """Headless Chromium at a window size; a phone is emulated (Chromium's windows are never
    narrower than 500 px) with its CSS width."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--allow-file-access-from-files"):
        options.add_argument(arg)
    if phone:
        options.add_experimental_option("mobileEmulation",
                                        {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)  # no driver download: the path is given


@pytest.fixture(scope="module")
def browser():
    driver = chrome(1280, 1600)
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
    browser.get((site / "runs.html").as_uri())
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
    batch, model = names.index("batch"), names.index("model")
    def column(i):
        return _column(browser, "runs-table", i)

    for words, check in (("batch:16", lambda: set(column(batch)) == {"16"}),
                         ("fashion 16", lambda: set(column(batch)) == {"16"}),
                         ("resnet", lambda: all(m.startswith("resnet") for m in column(model)))):
        box.clear()
        box.send_keys(words)
        assert _column(browser, "runs-table", 0) and check(), words  # "16" never matches 16.2 s or 0.16
    full_id = browser.execute_script("return document.querySelector('#runs-table td[data-value]').dataset.value")
    box.clear()
    box.send_keys(full_id)  # a 16-character id pasted from `bench ls` finds its row
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


@pytest.fixture(scope="module")
def large_site(tmp_path_factory):
    from fixtures.report.make_fixture import large

    root = tmp_path_factory.mktemp("layout")
    build(large(root / "store"), root / "site", pdf=False)
    return root / "site"


def test_desktop_1400_summary_above_the_fold_and_no_overflow(large_site, tmp_path):
    driver = chrome(1400, 900)
    try:
        driver.get((large_site / "index.html").as_uri())
        driver.save_screenshot(str(tmp_path / "1400.png"))
        page, viewport, answered, table = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " ['q1a', 'q1b', 'q2'].map(q => document.querySelector('#answer-' + q + ' li')"
            ".getBoundingClientRect().bottom), document.getElementById('runs-table')];")
        assert page <= viewport  # the page itself never scrolls sideways
        cut = driver.execute_script(
            "return Array.from(document.querySelectorAll('table'))"
            ".filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)"
            ".map(t => t.id || (t.tHead ? t.tHead.textContent : '').slice(0, 60));")
        assert not cut, cut  # every table whole, none behind a sideways scroll
        # one answer per question on the first screen: each question's first answer line
        assert max(answered) <= driver.execute_script("return window.innerHeight"), answered
        assert table is None  # all runs are a page of their own, not 20,000 px of the report
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not errors, errors
        driver.get((large_site / "runs.html").as_uri())
        page, viewport, runs, frame = driver.execute_script(
            "var t = document.getElementById('runs-table');"
            "return [document.documentElement.scrollWidth, window.innerWidth, t.scrollWidth,"
            " t.parentElement.clientWidth];")
        assert page <= viewport and runs <= frame  # every column of all runs visible without scrolling
        assert not [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    finally:
        driver.quit()


def test_phone_390_shows_q1a_accuracies_without_sideways_scroll(large_site, tmp_path):
    driver = chrome(390, 844, phone=True)
    try:
        driver.get((large_site / "index.html").as_uri())
        assert driver.execute_script("return window.innerWidth") == 390
        page = driver.execute_script("return document.documentElement.scrollWidth")
        assert page <= 390
        table = driver.execute_script("return document.querySelector('#q1a table').id")
        right = driver.execute_script(
            "var row = document.querySelector('#q1a table tbody tr');"
            "var cells = Array.from(row.cells).filter(c => c.classList.contains('n'));"
            "return cells.slice(0, 2).map(c => c.getBoundingClientRect().right);")
        assert right and max(right) <= 390, (table, right)  # configuration and two accuracies on screen
        driver.execute_script("document.getElementById('q1a').scrollIntoView()")
        driver.save_screenshot(str(tmp_path / "390.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not errors, errors
    finally:
        driver.quit()


def test_phone_390_shows_the_accuracy_and_time_of_every_wide_table(large_site):
    """SVMs, Q2 and all runs: on a phone each row is its cell in a few words, then what it measured,
    with no column behind a sideways scroll (the other columns are on a wider screen and in the PDF)."""
    driver = chrome(390, 844, phone=True)
    try:
        for page, table, columns in (("index.html", "svm-table", ("SVM", "test acc", "fit")),
                                     ("index.html", "q2-table", ("cell", "train time", "test acc", "speedup")),
                                     ("runs.html", "runs-table", ("cell", "test acc", "train time"))):
            driver.get((large_site / page).as_uri())
            width, frame, right = driver.execute_script(
                "var t = document.getElementById(arguments[0]);"
                "return [t.scrollWidth, t.parentElement.clientWidth, Object.fromEntries("
                "Array.from(t.tHead.rows[0].cells)"
                ".map(h => [h.textContent.trim(), h.getBoundingClientRect().right]))];",
                table)
            assert width <= frame, (table, width, frame)
            assert all(0 < right[c] <= 390 for c in columns), (table, right)
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    finally:
        driver.quit()


def test_phone_390_shows_every_figure_at_its_printed_size_in_its_own_scroller(large_site):
    """Heatmaps and curves shrunk to a phone's width print their text at 4 px; at their own size
    (text 7 pt and up, as in the PDF) a figure scrolls sideways in its frame, never the page."""
    import time

    driver = chrome(390, 844, phone=True)
    try:
        driver.get((large_site / "index.html").as_uri())
        driver.execute_script("document.querySelectorAll('figure img').forEach(i => i.loading = 'eager')")
        for _ in range(50):
            sizes = driver.execute_script(
                "return Array.from(document.querySelectorAll('figure img')).map(i => [i.getAttribute('src'),"
                " i.complete, i.naturalWidth, i.getBoundingClientRect().width, i.parentElement.clientWidth]);")
            if all(complete for _, complete, *_ in sizes):
                break
            time.sleep(0.1)
        assert sizes
        for src, complete, natural, shown, frame in sizes:
            assert complete and natural and shown >= natural and frame <= 390, (src, natural, shown, frame)
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    finally:
        driver.quit()
