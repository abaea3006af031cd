"""The explorer end to end in headless Chromium (selenium), on a copy of the scored run.

The app runs under uvicorn in a thread on a free port; the browser loads the scatter, filters
(a writing WHERE clause is refused, a threshold greys out the rest), box-selects points with
the mouse, sees the image grid and the hover preview, opens an object and adds a label that
must then be in ``object_label``. Every wait is an explicit WebDriverWait on the DOM.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import psycopg
import pytest
import uvicorn

from hscanom.explorer.app import create_app
from test_explorer_api import add_characterisation, counts

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 30

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser tests need Debian's chromium and chromium-driver (scripts/setup-system.sh installs them)",
)


@pytest.fixture
def served(scored_db):
    """(base URL, db URL, state): the explorer on the scored run, characterised."""
    url, _cfg, state = scored_db
    add_characterisation(url, state.run_id, state.wgan_id)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until the server loop picks them up: no start-up wait
    server = uvicorn.Server(uvicorn.Config(create_app(url), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", url, state
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    yield driver
    driver.quit()


def _loaded(driver, selector: str) -> bool:
    """All images matching ``selector`` finished loading with pixels."""
    return driver.execute_script(
        "const imgs = [...document.querySelectorAll(arguments[0])];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);", selector)


def test_explore_select_open_and_label(served, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, url, state = served
    run = state.run_id
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(f"{base}/?run={run}")

    # the WebGL scatter of the residual UMAP renders
    plot = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#plot[data-rendered="120"]')))
    assert plot.get_attribute("data-space") == "residual"
    assert browser.find_elements(By.CSS_SELECTOR, "#plot canvas")
    assert Select(browser.find_element(By.ID, "space")).first_selected_option.get_attribute("value") == "residual"

    # the sky view draws the positions over the footprint MOC; then back to the UMAP
    Select(browser.find_element(By.ID, "space")).select_by_value("sky")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#plot[data-space="sky"][data-rendered="120"]')))
    footprint = browser.execute_script(
        "const t = document.getElementById('plot').data.find(t => (t.name || '').startsWith('footprint'));"
        "return t ? t.x.filter(v => v !== null).length : 0;")
    assert footprint >= 5  # at least one closed cell outline
    Select(browser.find_element(By.ID, "space")).select_by_value("residual")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#plot[data-space="residual"][data-rendered="120"]')))

    # a WHERE clause that closes its parenthesis to append statements is refused before it runs, and nothing changes
    before = counts(url)
    where = browser.find_element(By.ID, "where")
    where.send_keys("1=1) ORDER BY 1; DELETE FROM object_label; SELECT 1 WHERE (1")
    browser.find_element(By.ID, "apply").click()
    status = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#filter-status.error")))
    assert "closes a parenthesis it did not open" in status.text and "one boolean expression" in status.text
    assert counts(url) == before

    # a threshold filter greys out the rest
    with psycopg.connect(url) as conn:
        passing = {str(r[0]) for r in conn.execute(
            "SELECT object_id FROM scored_object WHERE run_id = %s AND s_disc_sigma >= 0 AND g_r > 0", (run,))}
    assert 0 < len(passing) < 120
    where.clear()
    where.send_keys("g_r > 0")
    browser.find_element(By.ID, "min-s_disc_sigma").send_keys("0")
    browser.find_element(By.ID, "apply").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#filter-status[data-n="{len(passing)}"]')))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#plot[data-rendered="120"]')))

    # box-select the whole plot area with the mouse: the grid shows exactly the passing objects
    drag = browser.find_element(By.CSS_SELECTOR, "#plot .nsewdrag")
    w, h = drag.size["width"], drag.size["height"]
    (ActionChains(browser).move_to_element_with_offset(drag, -w // 2 + 2, -h // 2 + 2).click_and_hold()
     .move_by_offset(w // 2, h // 2).move_by_offset(w // 2 - 4, h // 2 - 4).release().perform())
    wait.until(lambda d: d.find_element(By.ID, "grid").get_attribute("data-count") not in (None, "", "0"))
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#grid .thumb")
    assert {t.get_attribute("data-id") for t in thumbs} == passing
    wait.until(lambda d: _loaded(d, "#grid .thumb img"))

    # hovering a thumbnail shows its real image, reconstruction and residual
    first = thumbs[0]
    oid = first.get_attribute("data-id")
    ActionChains(browser).move_to_element(first).perform()
    wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("data-id") == oid)
    wait.until(lambda d: _loaded(d, "#preview img"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "pv-info"), "s_disc"))

    # open the object, see its page, add a label
    first.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "object-id"), oid))
    wait.until(lambda d: _loaded(d, ".images img"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#similar .thumb")) == 12
    Select(browser.find_element(By.ID, "label")).select_by_value("tidal_feature")
    browser.find_element(By.ID, "note").send_keys("faint arc to the north-east")
    browser.find_element(By.ID, "user").send_keys("selenium")
    browser.find_element(By.ID, "save-label").click()
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#labels tr.label-row.new")))
    assert "tidal_feature" in row.text and "selenium" in row.text
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT object_id, label, note, user_name, run_id FROM object_label").fetchall()
    assert stored == [(int(oid), "tidal_feature", "faint arc to the north-east", "selenium", run)]


def test_review_mode_labels_the_queue_and_reranks(served, browser):
    """Review mode: make the first ranking, label the queue by click and by key, re-rank,
    and see the relevance scatter; labels keep the user name."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base, url, state = served
    run = state.run_id
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(f"{base}/review?run={run}")
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "Re-rank"))  # no ranking yet: says what to do
    browser.find_element(By.ID, "user").send_keys("reviewer")
    browser.find_element(By.ID, "rerank").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "0 labels"))
    cards = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queue .review-card") or None)
    assert len(cards) == 20
    wait.until(lambda d: _loaded(d, "#queue .review-card:first-child img"))
    assert len(cards[0].find_elements(By.CSS_SELECTOR, "img")) == 3  # real, reconstruction, residual
    assert "prior u " in cards[0].text and "relevance " in cards[0].text
    first, second = cards[0].get_attribute("data-object-id"), cards[1].get_attribute("data-object-id")

    cards[0].find_element(By.CSS_SELECTOR, 'button[data-label="merger"]').click()
    wait.until(lambda d: "labelled" in d.find_elements(By.CSS_SELECTOR, "#queue .review-card")[0].get_attribute("class"))
    # the focus moved on to the second card: a key labels it
    assert "focused" in browser.find_elements(By.CSS_SELECTOR, "#queue .review-card")[1].get_attribute("class")
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    wait.until(lambda d: "labelled" in d.find_elements(By.CSS_SELECTOR, "#queue .review-card")[1].get_attribute("class"))
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT object_id, label, user_name, run_id FROM object_label ORDER BY id").fetchall()
    assert stored == [(int(first), "merger", "reviewer", run), (int(second), "not_interesting", "reviewer", run)]

    browser.find_element(By.ID, "rerank").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "2 labels (1 interesting)"))
    wait.until(lambda d: d.find_element(By.ID, "rel-plot").get_attribute("data-colored") == "relevance")
    ids = [c.get_attribute("data-object-id") for c in browser.find_elements(By.CSS_SELECTOR, "#queue .review-card")]
    assert first not in ids and second not in ids  # labelled objects leave the queue
    with psycopg.connect(url) as conn:
        newest = conn.execute("SELECT n_labels, n_interesting, model FROM ranking ORDER BY id DESC LIMIT 1").fetchone()
        rel = dict(conn.execute("SELECT object_id, relevance FROM ranking_score WHERE ranking_id = (SELECT max(id) FROM ranking)").fetchall())
    assert newest == (2, 1, "gaussian_process") and rel[int(first)] == 1.0 and rel[int(second)] == 0.0
