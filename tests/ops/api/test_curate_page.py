"""The curation page in a real headless browser (Debian's chromium through Selenium):
name a cluster, merge two, eject a face, and the API reflects all three.

The browser comes with the project's set-up (``make browser``, run by ``make test``);
this test skips, saying so, only where chromium could not be installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.api.app import create_app
from ops.api.local import served
from ops.faces.people import cluster_people
from ops.settings import Settings
from tests.support.faces import add_faces, face_id

TOKEN = "page-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The API over a home with three generated people, served on a free loopback port."""
    settings = Settings(home=tmp_path / "home", api_token=TOKEN)
    add_faces(settings, {0: 4, 1: 3, 2: 2}, seed=1)
    cluster_people(settings)
    with served(create_app(settings)) as base_url:
        yield base_url


@pytest.fixture
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip(
            f"chromium or chromedriver not installed ({CHROMIUM}, {CHROMEDRIVER}): "
            "`make browser` installs them (Debian packages chromium, chromium-driver; needs root)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def test_a_curator_names_merges_and_ejects_in_the_page(server: str, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.wait import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    driver.get(f"{server}/curate")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.group")) == 3)
    driver.find_element(By.ID, "curator").send_keys("ada")
    driver.find_element(By.ID, "token").send_keys(TOKEN)

    def saved() -> None:
        wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "saved"))
        driver.execute_script("document.getElementById('status').textContent = ''")

    largest = driver.find_elements(By.CSS_SELECTOR, "section.group")[0]
    # the name its face set declared is shown and offered; the curator decides otherwise
    assert largest.find_element(By.CSS_SELECTOR, ".declared").text == "sources say: p0 (4)"
    name = largest.find_element(By.CSS_SELECTOR, "input.person")
    assert name.get_attribute("value") == "p0"
    name.clear()
    name.send_keys("Ann Lee")
    largest.find_element(By.CSS_SELECTOR, "button.name-it").click()
    saved()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "section.named .name").text == "Ann Lee")

    for tick in driver.find_elements(By.CSS_SELECTOR, "section.group:not(.named) input.tick"):
        tick.click()
    driver.find_element(By.ID, "merge").click()
    saved()

    ejected = face_id(1, 0, 3)
    driver.find_element(By.CSS_SELECTOR, f"figure[data-face='{ejected}'] button.eject").click()
    saved()

    groups = httpx.get(f"{server}/faces/clusters").json()["groups"]
    ann = next(group for group in groups if group["id"] == "Ann Lee")
    assert ann["faces"] == [face_id(1, 0, n) for n in range(3)]
    merged = next(group for group in groups if face_id(1, 1, 0) in group["faces"])
    assert face_id(1, 2, 0) in merged["faces"]
    assert not any(ejected in group["faces"] for group in groups if group["id"] == "Ann Lee")
    log = httpx.get(f"{server}/faces/decisions").json()
    assert [(d["who"], d["action"]) for d in log[1:]] == [
        ("ada", "name"),
        ("ada", "merge"),
        ("ada", "eject"),
    ]
