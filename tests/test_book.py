"""The book builds with warnings as errors and nitpicky references, and shows what it should."""

import re

import pytest

pytestmark = pytest.mark.slow(seconds=20)   # builds the book (-W -n) once per worker


def test_book_builds_without_warnings(html):
    assert (html / "intro.html").exists() and (html / "index.html").exists()


def test_every_chapter_page_shows_its_figures(html):
    pages = sorted((html / "chapters").glob("[0-9][0-9]_*.html"))
    assert pages, "no chapter pages were built"
    for page in pages:
        text = page.read_text()
        images = re.findall(r'<img [^>]*src="([^"]+\.png)"', text)
        assert images, f"{page.name} shows no figure"
        for src in images:
            assert (page.parent / src).resolve().exists(), f"{page.name}: missing image {src}"
        assert "Traceback" not in text, f"{page.name} shows a traceback"


def test_citations_resolve_to_the_bibliography(html):
    page = (html / "chapters" / "02_attention_as_weighted_average.html").read_text()
    assert "Bahdanau" in page and "bibliography.html#id" in page
    assert "neural machine translation by jointly learning" in (html / "bibliography.html").read_text().lower()
