"""A Sphinx extension for this book: drop a <script> tag that repeats an earlier one on its page.

With Jupyter Book 1.x, sphinx-thebe's inline configuration script (and sphinx-togglebutton's) is
emitted twice on every page, so the browser logged "Identifier 'THEBE_JS_URL' has already been
declared". When the build finishes, each HTML page keeps only the first of identical script tags.
"""

import re
from pathlib import Path

_SCRIPT = re.compile(r"[ \t]*<script\b[^>]*>.*?</script>[ \t]*\n?", re.S)


def dedupe_html(text: str) -> str:
    """``text`` with every <script>…</script> that repeats an earlier identical one removed."""
    seen = set()

    def keep_first(match: re.Match) -> str:
        tag = match.group(0).strip()
        if tag in seen:
            return ""
        seen.add(tag)
        return match.group(0)

    return _SCRIPT.sub(keep_first, text)


def rewrite_pages(app, exception, fix) -> None:
    """After a successful HTML build, replace each page's text by ``fix(text)`` where it changes."""
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = fix(text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def _build_finished(app, exception):
    rewrite_pages(app, exception, dedupe_html)


def setup(app):
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
