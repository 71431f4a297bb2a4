"""The built book in a real browser: headless Chromium (Debian's package) driven by Selenium.

The book is served on 127.0.0.1 and every page is opened. A page must load without console
errors; each chapter's figures must be present and loaded (non-zero natural size); the search
page must find each chapter by a term from its title; every internal link must resolve. A
screenshot of one chapter page is saved as _build/screenshot-chapter.png for a person to look at.

`make test` installs chromium and chromium-driver where missing (tools/install_browser.sh); where
they cannot be installed, these tests are skipped with a message that says so.
"""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [pytest.mark.slow(seconds=170), pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium is not installed and could not be installed here "
    "(Debian packages chromium and chromium-driver; tools/install_browser.sh)",
)]

# Pages Sphinx generates that are not part of the course's content.
SKIP_PAGES = {"genindex.html", "search.html"}


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                 "--window-size=1280,1600", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html")
                  if p.name not in SKIP_PAGES and "_static" not in p.parts and "_sources" not in p.parts)


def open_page(browser, url: str) -> list[dict]:
    """Open ``url``, wait until it has loaded, and return its console errors."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages left
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_every_page_loads_without_console_errors(browser, served, html):
    problems = {}
    for page in pages(html):
        errors = open_page(browser, f"{served}/{page.relative_to(html).as_posix()}")
        if errors:
            problems[page.name] = [e["message"] for e in errors]
    assert len(pages(html)) >= 5
    assert not problems, problems


def test_chapter_figures_are_present_and_loaded(browser, served, html):
    chapters = sorted((html / "chapters").glob("[0-9][0-9]_*.html"))
    assert chapters, "the book has no chapter pages"
    counts = {}
    for page in chapters:
        open_page(browser, f"{served}/chapters/{page.name}")
        images = browser.execute_script(
            "return Array.from(document.querySelectorAll('article img')).map("
            "i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])")
        broken = [src for src, done, w, h in images if not (done and w > 0 and h > 0)]
        assert images, f"{page.name} shows no figure"
        assert not broken, f"{page.name}: images not loaded: {broken}"
        # No raw widget JSON or dead widget boxes: widget outputs are hidden in the book.
        text = browser.find_element("css selector", "article").text
        assert "application/vnd.jupyter.widget" not in text and "VBox(children" not in text
        counts[page.name] = len(images)
    print("figures per chapter:", counts)
    open_page(browser, f"{served}/chapters/{chapters[0].name}")
    (ROOT / "_build").mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ROOT / "_build" / "screenshot-chapter.png"))


def test_math_is_typeset(browser, served):
    open_page(browser, f"{served}/chapters/02_attention_as_weighted_average.html")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length") > 0)
    assert browser.execute_script("return document.querySelectorAll('mjx-container').length") > 10


def search(browser, served, term: str) -> list[str]:
    """The result links the book's search page lists for ``term``."""
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, f"{served}/search.html?q={term}")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script(
            "const r = document.querySelector('#search-results');"
            "return r && /search finished|no documents|did not match/i.test(r.innerText);"))   # every result listed
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.getAttribute('href'))")


def test_search_finds_every_chapter(browser, served, html):
    for page in sorted((html / "chapters").glob("[0-9][0-9]_*.html")):
        open_page(browser, f"{served}/chapters/{page.name}")
        title = browser.find_element("css selector", "article h1").text
        term = max((w.strip("—:,.") for w in title.split()), key=len)  # the title's longest word
        links = search(browser, served, term)
        assert any(f"chapters/{page.stem}" in (href or "") for href in links), f"searching {term!r}: {links}"


def test_search_finds_a_term_from_the_body_of_chapter_4(browser, served):
    # "maxout", the kind of output layer of Bahdanau's decoder, appears only in chapter 4's text
    links = search(browser, served, "maxout")
    assert any("chapters/04_bahdanau_decoder" in (href or "") for href in links), links


def test_internal_links_resolve(html):
    import re

    missing = []
    for page in pages(html):
        for href in re.findall(r'href="([^"]+)"', page.read_text()):
            parsed = urlparse(href)
            if parsed.scheme or href.startswith(("#", "mailto:", "//")):
                continue
            target = Path(unquote(urljoin(f"/{page.relative_to(html).as_posix()}", parsed.path)).lstrip("/"))
            if parsed.path and not (html / target).exists():
                missing.append(f"{page.relative_to(html)} -> {href}")
    assert not missing, "\n".join(missing[:20])


CHAPTER_PAGES = ["01_why_attention", "02_attention_as_weighted_average", "03_soft_and_hard_attention",
                 "04_bahdanau_decoder", "05_luong_attention", "06_self_attention"]


@pytest.mark.parametrize("chapter", CHAPTER_PAGES)
def test_quiz_and_hints_work_without_a_kernel(browser, served, chapter):
    """Answer a quiz question (a wrong option, then the right one) and open a hint, by keyboard
    and by click, on the static page; the feedback and its typeset math must show."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    assert not open_page(browser, f"{served}/chapters/{chapter}.html")
    questions = browser.find_elements(By.CSS_SELECTOR, ".course-quiz-question")
    assert len(questions) >= 3
    options = questions[0].find_elements(By.CSS_SELECTOR, "details.course-quiz-option")
    assert len(options) >= 2 and not any(o.get_attribute("open") for o in options)
    feedback = {}
    for option in options:
        summary = option.find_element(By.TAG_NAME, "summary")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
        summary.send_keys(Keys.ENTER) if option is options[0] else summary.click()
        WebDriverWait(browser, 10).until(lambda d, option=option: option.get_attribute("open") is not None)
        text = option.find_element(By.TAG_NAME, "p").text
        assert text, "an opened option shows its explanation"
        feedback[text.split(".")[0]] = text
    assert any(k.startswith("✅ Right") for k in feedback) and any(k.startswith("❌") for k in feedback)
    # the quiz's math is typeset by the book's own MathJax (served locally)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.course-quiz mjx-container').length") > 0)
    hints = browser.find_elements(By.CSS_SELECTOR, "details.course-hint")
    assert len(hints) >= 3
    summary = hints[0].find_element(By.TAG_NAME, "summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    WebDriverWait(browser, 10).until(lambda d: hints[0].get_attribute("open") is not None)
    assert hints[0].text.count("\n") >= 1   # the hint's text is now visible under its summary
    if chapter.startswith("02"):
        browser.save_screenshot(str(ROOT / "_build" / "screenshot-quiz.png"))


EXPLORER_PAGES = CHAPTER_PAGES[1:]   # chapters 2-6 each have an explorer


def visible_frames(browser, explorer) -> list[str]:
    return browser.execute_script(
        "return Array.from(arguments[0].querySelectorAll('img.course-frame'))"
        ".filter(i => getComputedStyle(i).display !== 'none').map(i => i.alt)", explorer)


@pytest.mark.parametrize("chapter", EXPLORER_PAGES)
def test_explorers_move_without_a_kernel(browser, served, chapter):
    """Each control of the explorer, moved with the keyboard (arrow key on its radio group) or a
    click, changes the one frame in view; every frame in view has alt text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    assert not open_page(browser, f"{served}/chapters/{chapter}.html")
    explorers = browser.find_elements(By.CSS_SELECTOR, ".course-explorer")
    assert len(explorers) == 1, "the explorer's static version is on the page"
    explorer = explorers[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", explorer)
    before = visible_frames(browser, explorer)
    assert len(before) == 1 and before[0], "exactly one frame in view, with alt text"
    for n, fieldset in enumerate(explorer.find_elements(By.TAG_NAME, "fieldset")):
        radios = fieldset.find_elements(By.CSS_SELECTOR, "input[type=radio]")
        checked = next(r for r in radios if r.is_selected())
        if n % 2 == 0:
            checked.send_keys(Keys.ARROW_RIGHT)   # keyboard: the next value of this control
        else:
            next(r for r in radios if not r.is_selected()).click()
        after = visible_frames(browser, explorer)
        assert len(after) == 1 and after != before, f"moving {fieldset.text.splitlines()[0]!r} changed nothing"
        before = after
    if chapter.startswith("05"):
        browser.save_screenshot(str(ROOT / "_build" / "screenshot-explorer.png"))


AXE = ROOT / ".cache" / "axe-core-4.14.1" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm missing?): tools/install_browser.sh")
def test_accessibility_audit(browser, served, html):
    """axe-core in every page of the book: no serious or critical violation. The per-page results
    (moderate and minor ones too) are written to _build/axe-report.json."""
    import json

    script = AXE.read_text()
    browser.set_script_timeout(120)
    report, serious = {}, []
    for page in pages(html):
        rel = page.relative_to(html).as_posix()
        open_page(browser, f"{served}/{rel}")
        browser.execute_script(script)
        found = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then("
            "  r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
            "                                   where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))),"
            "  e => done([{id: 'axe-error', impact: 'critical', nodes: 0, where: [String(e)]}]));")
        report[rel] = found
        serious += [(rel, v["id"], v["where"]) for v in found if v["impact"] in ("serious", "critical")]
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "axe-report.json").write_text(json.dumps(report, indent=1))
    assert len(report) >= 10 and not serious, serious


@pytest.mark.parametrize("chapter", CHAPTER_PAGES)
def test_pages_are_usable_390_px_wide(browser, served, chapter):
    """On a phone-sized window the page does not scroll sideways (wide tables, code and figures
    scroll or shrink inside their own boxes), and the quiz and explorer controls stay reachable."""
    browser.set_window_size(390, 844)
    try:
        open_page(browser, f"{served}/chapters/{chapter}.html")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page is {overflow} px wider than the window"
        widths = browser.execute_script(
            "return Array.from(document.querySelectorAll('.course-quiz summary, .course-explorer input'))"
            ".map(e => e.getBoundingClientRect().right)")
        assert widths and max(widths) <= 390
        if chapter.startswith("02"):
            browser.save_screenshot(str(ROOT / "_build" / "screenshot-390px.png"))
    finally:
        browser.set_window_size(1280, 1600)
