"""A Sphinx extension for this book: fix the serious accessibility findings in the theme's HTML.

axe-core (``tests/test_browser.py::test_accessibility_audit``) reported, on every page:

* ``label-content-name-mismatch`` on the search buttons: their ``aria-label`` is "Search" while
  they show "Search" and the shortcut "Ctrl+K", so speech users who say what they see do not
  reach them. Dropping the ``aria-label`` names each button by its text (or its ``title``);
* the same on the colour-mode button, whose icons carry titles ("Light", "Dark", …; Font Awesome
  turns them into SVG ``<title>`` text) that differ from its name "Color mode": the icons are
  decorative, so they lose the titles and get ``aria-hidden``;
* the same on the button of a hidden output (the cells that answer a prediction, tagged
  ``hide-output``): myst-nb names it "Toggle hidden content" while it shows "Show code cell
  output"; without the ``aria-label`` its text names it;
* ``aria-required-children`` (critical) on the bibliography: docutils gives the citation list
  ``role="list"`` but its entries are ``doc-biblioentry``, not list items; the role is dropped.

Applied to every HTML page when the build finishes.
"""

import re

from dedupe_scripts import rewrite_pages  # the same folder (book_ext/) is on Sphinx's path

_SEARCH_BUTTON = re.compile(r'(<button class="[^"]*\bsearch-button__button\b[^"]*"[^>]*?) aria-label="Search"')
_THEME_ICON = re.compile(r'<i class="theme-switch ([^"]*)"([^>]*?) title="[^"]*"')
_CITATION_LIST = '<div role="list" class="citation-list">'
_HIDDEN_OUTPUT = '<summary aria-label="Toggle hidden content">'


def fix_html(text: str) -> str:
    """``text`` with the fixes of the module's docstring."""
    text = _SEARCH_BUTTON.sub(r"\1", text).replace(_HIDDEN_OUTPUT, "<summary>")
    text = _THEME_ICON.sub(r'<i aria-hidden="true" class="theme-switch \1"\2', text)
    return text.replace(_CITATION_LIST, '<div class="citation-list">')


def _build_finished(app, exception):
    rewrite_pages(app, exception, fix_html)


def setup(app):
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
