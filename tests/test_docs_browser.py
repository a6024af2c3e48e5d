"""The built documentation site in headless Chromium (marker ``docs``: ``tox -e docs``, or
``python -m pytest -m docs tests/test_docs_browser.py`` after ``sphinx-build ... docs docs/_build/html``).

The site is served from ``docs/_build/html`` on localhost (``http.server`` in a thread) and driven
through Selenium with Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; ``BMM_NUMBA_CHROMIUM`` and ``BMM_NUMBA_CHROMEDRIVER`` name others).
Each page must load with no SEVERE entry in the browser console and with every ``<img>`` decoded
(``naturalWidth > 0``); the search page must find ``e_step``.  One exception: a resource of another
host (MathJax from its CDN) that fails because the machine has no network
(``net::ERR_NAME_NOT_RESOLVED`` and the like) is reported on stdout, not as an error: everything the
site itself serves must load.  Screenshots of the landing page and of the ladder example go to
``docs/_build/screenshots/``.  Every test skips, saying why, when the
browser, the driver, Selenium or the built site is missing.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
CHROMIUM = os.environ.get("BMM_NUMBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("BMM_NUMBA_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
API_PAGE = "api/generated/bmm_numba.BernoulliMixture.html"
LOAD_TIMEOUT_S = 30

# Decode every image, the lazy ones too, and report those that did not load.
BROKEN_IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
Promise.all(images.map(img => img.complete ? Promise.resolve() :
    new Promise(ok => { img.addEventListener("load", ok); img.addEventListener("error", ok); })))
  .then(() => done(images.filter(img => !(img.naturalWidth > 0)).map(img => img.currentSrc || img.src)));
"""


def _missing():
    if not (SITE / "index.html").is_file():
        return f"no built site at {SITE}: run `sphinx-build -W --keep-going -b html docs docs/_build/html` first"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if not Path(CHROMEDRIVER).is_file():
        return f"no chromedriver at {CHROMEDRIVER} (Debian: apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[docs]')"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def site_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_TIMEOUT_S)
    driver.set_script_timeout(LOAD_TIMEOUT_S)
    yield driver
    driver.quit()


def gallery_examples():
    """The built gallery pages, ``plot_*.html``, in name order."""
    return sorted((SITE / "auto_examples").glob("plot_*.html"))


def ladder_example():
    """The gallery page of the ladder example (``*ladder*``), else the first example, else None."""
    pages = gallery_examples()
    return next((p for p in pages if "ladder" in p.name), pages[0] if pages else None)


OFFLINE_ERRORS = ("net::ERR_NAME_NOT_RESOLVED", "net::ERR_INTERNET_DISCONNECTED", "net::ERR_CONNECTION_REFUSED",
                  "net::ERR_CONNECTION_TIMED_OUT", "net::ERR_ADDRESS_UNREACHABLE", "net::ERR_PROXY_CONNECTION_FAILED")


def is_offline_failure(message, site_url):
    """A resource of another host that failed for want of a network (not a fault of the site)."""
    return not message.startswith(site_url) and message.startswith("http") and any(
        error in message for error in OFFLINE_ERRORS)


def open_page(browser, url):
    """Load ``url``; return its SEVERE console entries and the images that did not decode."""
    browser.get_log("browser")  # drop the previous page's entries
    browser.get(url)
    broken = browser.execute_async_script(BROKEN_IMAGES_JS)
    site_url = "/".join(url.split("/", 3)[:3]) + "/"  # scheme://host:port/
    severe = []
    for entry in browser.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if is_offline_failure(entry["message"], site_url):
            print(f"{url}: offline, not counted: {entry['message']}")
        else:
            severe.append(entry["message"])
    return severe, broken


def check_page(browser, url):
    severe, broken = open_page(browser, url)
    assert browser.title, f"{url}: no title"
    assert not severe, f"{url}: console errors {severe}"
    assert not broken, f"{url}: images that did not load {broken}"


def test_offline_failures_are_only_other_hosts_network_errors():
    site = "http://127.0.0.1:8000/"
    assert is_offline_failure("https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js - Failed to load resource: "
                              "net::ERR_NAME_NOT_RESOLVED", site)
    assert not is_offline_failure(site + "_static/x.js - Failed to load resource: net::ERR_NAME_NOT_RESOLVED", site)
    assert not is_offline_failure("https://cdn.example/x.js - Failed to load resource: the server responded with a "
                                  "status of 404 (Not Found)", site)
    assert not is_offline_failure("http://127.0.0.1:8000/x.js 12:3 Uncaught TypeError: x is undefined", site)


def test_landing_page(browser, site_url):
    check_page(browser, site_url + "index.html")
    assert "bmm_numba" in browser.title
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "landing.png"))


def test_api_page_of_the_estimator(browser, site_url):
    assert (SITE / API_PAGE).is_file(), f"{API_PAGE} was not built"
    check_page(browser, site_url + API_PAGE)
    assert "BernoulliMixture" in browser.find_element("css selector", "main").text


def test_two_gallery_examples(browser, site_url):
    pages = gallery_examples()
    if len(pages) < 2:
        pytest.skip(f"the gallery has {len(pages)} built plot_*.html page(s) in {SITE / 'auto_examples'}")
    ladder = ladder_example()
    chosen = [ladder, *[p for p in pages if p != ladder][:1]]
    for page in chosen:
        check_page(browser, site_url + f"auto_examples/{page.name}")
        n_images = browser.execute_script("return document.querySelectorAll('img.sphx-glr-single-img, "
                                          "img.sphx-glr-multi-img').length")
        assert n_images > 0, f"{page.name}: the example drew no figure"
        if page == ladder:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(SCREENSHOTS / "ladder.png"))


def test_search_finds_e_step(browser, site_url):
    from selenium.webdriver.support.ui import WebDriverWait

    severe, _ = open_page(browser, site_url + "search.html?q=e_step")
    results = WebDriverWait(browser, LOAD_TIMEOUT_S).until(
        lambda b: b.find_elements("css selector", "#search-results ul.search li a"))
    assert any("e_step" in a.text for a in results), [a.text for a in results[:10]]
    assert not severe, severe
