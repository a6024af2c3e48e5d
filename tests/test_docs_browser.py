"""The built documentation site in headless Chromium (marker ``docs``: ``tox -e docs``, or
``python -m pytest -m docs tests/test_docs_browser.py`` after ``sphinx-build ... docs docs/_build/html``).

The site is served from ``docs/_build/html`` on localhost (``http.server`` in a thread) and driven
through Selenium with Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; ``BMM_NUMBA_CHROMIUM`` and ``BMM_NUMBA_CHROMEDRIVER`` name others).
Each page must load with no SEVERE entry in the browser console and with every ``<img>`` decoded
(``naturalWidth > 0``); the search page must find ``e_step``.  One exception: a resource of another
host (MathJax from its CDN) that fails because the machine has no network
(``net::ERR_NAME_NOT_RESOLVED`` and the like) is reported on stdout, not as an error: everything the
site itself serves must load.  At a 1366 x 900 window no element of the landing, lesson, user
guide, benchmarks, gallery index and ``BernoulliMixture`` pages may stick out of its column (a wide
table or code block must scroll inside it), no cell of a number with its unit may wrap, no entry of
the right-hand contents may be cut, and no page may show an empty sidebar.  Every link and anchor
between the built pages must resolve (a file check, no browser).  Screenshots of those pages and of
the ladder example go to ``docs/_build/screenshots/``.  Every test skips, saying why, when the
browser, the driver, Selenium or the built site is missing.
"""

import functools
import html.parser
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
CHROMIUM = os.environ.get("BMM_NUMBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("BMM_NUMBA_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
API_PAGE = "api/generated/bmm_numba.BernoulliMixture.html"
LOAD_TIMEOUT_S = 30
WINDOW = (1366, 900)  # a common laptop screen: the width every page must fit

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
                     f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars"):
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


# ---------------------------------------------------------------------------------------------
# layout at 1366 x 900: nothing sticks out of its column, no cut contents, no empty sidebar
# ---------------------------------------------------------------------------------------------

#: Page -> screenshot name.  The gallery index and the API page are the ones the issue names.
LAYOUT_PAGES = {"index.html": "landing", "lesson.html": "lesson", "user_guide.html": "user_guide",
                "benchmarks.html": "benchmarks", "auto_examples/index.html": "gallery",
                API_PAGE: "api_bernoulli_mixture"}

# Elements of the article that stick out of it, unless an ancestor inside the article clips or
# scrolls them (a wide table in a scrolling wrapper is fine: it scrolls inside the column).
OVERFLOW_JS = """
const article = document.querySelector("article.bd-article") || document.querySelector("main");
const box = article.getBoundingClientRect();
const out = [];
const clipped = el => {
  for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
    const ox = getComputedStyle(a).overflowX;
    if (ox === "auto" || ox === "scroll" || ox === "hidden") return true;
  }
  return false;
};
for (const el of article.querySelectorAll("*")) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
  if ((r.right > box.right + 1 || r.left < box.left - 1) && !clipped(el)) {
    out.push(`${el.tagName.toLowerCase()}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}] ` +
             `outside [${Math.round(box.left)}, ${Math.round(box.right)}]: ` +
             (el.textContent || "").trim().slice(0, 60));
  }
}
// the main column itself inside the window, and the page not wider than the window
if (box.right > window.innerWidth + 1) out.push(`the article ends at ${box.right} > ${window.innerWidth}`);
if (document.documentElement.scrollWidth > window.innerWidth + 1)
  out.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`);
return out;
"""

# Table cells holding one number and its unit ("24.1 ms", "1,540×") that wrap onto two lines.
WRAPPED_CELLS_JS = """
const out = [];
for (const cell of document.querySelectorAll("article td, article th")) {
  const text = cell.textContent.trim();
  if (!/^[-\\d.,]+ ?(s|ms|µs|us|ns|×|%|MB|GB)$/.test(text)) continue;
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const tops = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
  }
  if (tops.size > 1) out.push(text);
}
return out;
"""

# The right-hand contents: entries cut by their box, and the page title running under it.
SECONDARY_JS = """
const out = [];
const side = document.querySelector(".bd-sidebar-secondary");
if (!side || side.getBoundingClientRect().width === 0) return out;
for (const a of side.querySelectorAll("a")) {
  if (a.getBoundingClientRect().width === 0) continue;
  if (a.scrollWidth > a.clientWidth + 1) out.push(`cut entry: ${a.textContent.trim()}`);
  const r = a.getBoundingClientRect(), s = side.getBoundingClientRect();
  if (r.right > s.right + 1) out.push(`entry past the sidebar: ${a.textContent.trim()}`);
}
const h1 = document.querySelector("article h1");
if (h1) {
  const range = document.createRange();
  range.selectNodeContents(h1);
  const right = Math.max(...Array.from(range.getClientRects()).map(r => r.right));
  if (right > side.getBoundingClientRect().left) out.push(`the title runs under the contents (${right})`);
}
return out;
"""

# A sidebar shown with no visible navigation link in it ("Section Navigation" over nothing; the
# "Collapse Sidebar" button and the hidden small-screen menu do not count).
EMPTY_SIDEBAR_JS = """
const out = [];
const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
for (const side of document.querySelectorAll(".bd-sidebar-primary, .bd-sidebar-secondary")) {
  if (!visible(side) || getComputedStyle(side).display === "none") continue;
  const links = Array.from(side.querySelectorAll("nav a, .bd-toc-nav a")).filter(visible);
  if (links.length === 0)
    out.push(`${side.className.split(" ")[0]}: "${side.innerText.trim().replace(/\\s+/g, " ").slice(0, 50)}" ` +
             "and no link");
}
return out;
"""


def _full_page_screenshot(browser, path, max_height=9000):
    """The whole page (up to ``max_height`` px) through the DevTools protocol, not just the window."""
    import base64

    height = min(browser.execute_script("return document.documentElement.scrollHeight"), max_height)
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("page", list(LAYOUT_PAGES))
def test_page_fits_a_1366_px_window(browser, site_url, page):
    assert (SITE / page).is_file(), f"{page} was not built"
    check_page(browser, site_url + page)
    assert browser.execute_script("return window.innerWidth") == WINDOW[0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{LAYOUT_PAGES[page]}.png"))
    _full_page_screenshot(browser, SCREENSHOTS / f"{LAYOUT_PAGES[page]}_full.png")
    # the folded tables are checked unfolded, as a reader who opens them sees them
    if browser.execute_script("const d = document.querySelectorAll('article details'); "
                              "d.forEach(x => { x.open = true; }); return d.length;"):
        _full_page_screenshot(browser, SCREENSHOTS / f"{LAYOUT_PAGES[page]}_unfolded_full.png", max_height=16000)
    problems = {"overflowing": browser.execute_script(OVERFLOW_JS),
                "wrapped cells": browser.execute_script(WRAPPED_CELLS_JS),
                "right-hand contents": browser.execute_script(SECONDARY_JS),
                "empty sidebars": browser.execute_script(EMPTY_SIDEBAR_JS)}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"{page} at {WINDOW[0]} x {WINDOW[1]}: {problems}"


def test_layout_checks_find_what_sticks_out(browser, site_url):
    """The overflow check reports a too-wide element, and not the same element in a scrolling box."""
    check_page(browser, site_url + "lesson.html")
    browser.execute_script("""
        const article = document.querySelector("article.bd-article");
        article.insertAdjacentHTML("beforeend", '<div id="too-wide" style="width: 3000px">wide</div>' +
            '<div style="overflow-x: auto"><div style="width: 3000px">scrolls</div></div>');""")
    found = browser.execute_script(OVERFLOW_JS)
    assert any("wide" in line for line in found) and not any("scrolls" in line for line in found), found
    browser.execute_script("""document.querySelector("article.bd-article").insertAdjacentHTML("beforeend",
        '<table><tr><td style="width: 1px">24.1 ms</td></tr></table>');""")
    assert browser.execute_script(WRAPPED_CELLS_JS) == ["24.1 ms"]
    check_page(browser, site_url + API_PAGE)  # a page with a left sidebar: emptied, it is reported
    assert browser.execute_script(EMPTY_SIDEBAR_JS) == []
    browser.execute_script("document.querySelectorAll('.bd-sidebar-primary .bd-docs-nav ul').forEach(u => u.remove())")
    assert [line.split(":")[0] for line in browser.execute_script(EMPTY_SIDEBAR_JS)] == ["bd-sidebar-primary"]


def test_landing_page_has_a_picture(browser, site_url):
    check_page(browser, site_url + "index.html")
    sizes = browser.execute_script("return Array.from(document.querySelectorAll('article img'))"
                                   ".map(img => [img.naturalWidth, img.getBoundingClientRect().width])")
    assert any(natural > 300 and shown > 300 for natural, shown in sizes), sizes


def test_scaling_picture_is_readable_and_links_to_full_size(browser, site_url):
    check_page(browser, site_url + "benchmarks.html")
    found = browser.execute_script("""
        const img = Array.from(document.querySelectorAll('article img')).find(i => i.src.includes('scaling'));
        if (!img) return null;
        const link = img.closest('a');
        return [img.naturalWidth, img.getBoundingClientRect().width, img.getBoundingClientRect().height,
                link ? link.href : null];""")
    assert found, "benchmarks.html shows no scaling picture"
    natural, width, height, href = found
    assert width >= 0.95 * browser.execute_script(
        "return document.querySelector('article.bd-article').getBoundingClientRect().width") - 40, found
    assert height >= 250, f"scaling.png drawn {width:.0f} x {height:.0f}: too small to read"
    assert href and urlsplit(href).path.endswith(".png"), f"scaling.png is not linked to its full size: {href}"


# ---------------------------------------------------------------------------------------------
# links and anchors between the built pages (files only: every page, not a sample)
# ---------------------------------------------------------------------------------------------

class _Anchors(html.parser.HTMLParser):
    """The ``id``/``name`` anchors and the ``href``/``src`` links of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag != "meta" else ():
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and key == "href" and "canonical" in (attrs.get("rel") or "")):
                self.links.append(attrs[key])


def _parse(path, cache):
    if path not in cache:
        parser = _Anchors()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = parser
    return cache[path]


def broken_links(site):
    """``[(page, link, why)]`` for every link of the built site to a missing file or anchor."""
    cache, broken = {}, []
    for page in sorted(site.rglob("*.html")):
        if page.relative_to(site).parts[0] == "_static":  # the theme's assets (Jinja macros), not pages
            continue
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:", "data:")):
                continue  # another host (no network here), or not a file
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.relative_to(site).as_posix(), link, "no such file"))
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _parse(target,
                                                                                                         cache).ids:
                broken.append((page.relative_to(site).as_posix(), link, "no such anchor"))
    return broken


def test_no_broken_link_or_anchor_in_the_site():
    broken = broken_links(SITE)
    assert not broken, f"{len(broken)} broken links, the first: {broken[:10]}"


def test_broken_link_check_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">b</a> <a href="b.html#gone">x</a> '
                                     '<a href="c.html">c</a> <a href="https://example.org/">web</a> '
                                     '<img src="_static/p.png"> <a href="#top" id="top">top</a>')
    (tmp_path / "b.html").write_text('<h2 id="here">here</h2>')
    assert broken_links(tmp_path) == [("a.html", "b.html#gone", "no such anchor"), ("a.html", "c.html", "no such file"),
                                      ("a.html", "_static/p.png", "no such file")]
