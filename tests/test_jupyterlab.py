"""The live explorers in a real JupyterLab: a server on loopback, driven by headless Chromium.

Chapter 2 (its solved notebook, copied to a temporary folder) is run with *Run All Cells*; then
the attention explorer's first slider is moved with the keyboard, and the figure under it must
change. A screenshot is saved as _build/screenshot-jupyterlab.png.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow(seconds=30),
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                 reason="headless Chromium is not installed (tools/install_browser.sh)")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with chapter 2's solved notebook; yields its URL."""
    work = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "solutions" / "02_attention_as_weighted_average.ipynb", work / "chapter.ipynb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    args = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.getuid() == 0:
        args.append("--allow-root")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(work / ".config"), COURSE_PROGRESS="0")
    log = open(work / "lab.log", "w")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert server.poll() is None, (work / "lab.log").read_text()[-3000:]
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/chapter.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(20)
        log.close()


@pytest.fixture(scope="module")
def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_a_chapter_runs_and_its_explorer_responds(lab, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(lab)
    WebDriverWait(chrome, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"))
    WebDriverWait(chrome, 120).until(lambda d: d.execute_script(
        "const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        "return s && s.getAttribute('data-status') === 'idle'"))
    chrome.find_element(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='Run']").click()
    chrome.find_element(By.XPATH, "//div[contains(@class, 'lm-Menu-itemLabel') and text()='Run All Cells']").click()

    def explorer_image():
        return chrome.execute_script(
            "const s = Array.from(document.querySelectorAll('.jupyter-widgets .noUi-handle'));"
            "if (!s.length) return null;"
            "const box = s[0].closest('.jp-OutputArea-output');"
            "const img = box && box.querySelector('.jupyter-widgets-output-area img, .widget-output img');"
            "return img ? img.src.slice(-300) : null")

    WebDriverWait(chrome, 300).until(lambda d: explorer_image())   # the whole chapter ran
    errors = chrome.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert not [e.text for e in errors if "Traceback" in e.text], "a cell raised"
    before = explorer_image()
    handle = chrome.find_elements(By.CSS_SELECTOR, ".jupyter-widgets .noUi-handle")[0]
    chrome.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    handle.click()
    for _ in range(3):
        handle.send_keys(Keys.ARROW_RIGHT)     # the query's angle, with the keyboard
    WebDriverWait(chrome, 60).until(lambda d: explorer_image() not in (None, before))
    (ROOT / "_build").mkdir(exist_ok=True)
    chrome.save_screenshot(str(ROOT / "_build" / "screenshot-jupyterlab.png"))


def test_myst_roles_render_in_jupyterlab(lab, chrome):
    """jupyterlab-myst renders MyST in markdown cells: a citation is not left as raw `{cite}` text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(lab)
    WebDriverWait(chrome, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-MarkdownCell"))
    first = chrome.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-MarkdownCell")[0]
    try:   # the MyST renderer replaces the cell's first rendering a moment later on a busy machine
        WebDriverWait(chrome, 60).until(lambda d: "Chapter 2" in first.text and "{cite}" not in first.text)
    except TimeoutException:
        raise AssertionError(f"raw MyST roles in JupyterLab: {first.text[:600]}") from None
    assert "bahdanau2015" in first.text, first.text[:600]
