"""Every chapter can be shown as slides (`jupyter nbconvert --to slides`), one slide per section."""

import re

import nbformat
import pytest
from nbconvert import SlidesExporter

from tools.notebooks import CHAPTERS

pytestmark = pytest.mark.slow(seconds=10)   # nbconvert on every chapter

CHAPTER_PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.name)
def test_chapter_converts_to_a_reveal_deck(path):
    nb = nbformat.read(str(path), as_version=4)
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert None not in types, "every cell has a slide type"
    assert types[0] == "slide" and types.count("slide") >= 5
    html, _ = SlidesExporter().from_notebook_node(nb)
    assert "Reveal.initialize" in html
    # Each slide is a <section> holding one <section> per subslide.
    assert html.count("<section") >= 2 * types.count("slide") + types.count("subslide")
    for heading in re.findall(r"^## (.+)$", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"), re.M):
        words = heading.split()[1] if heading[0].isdigit() else heading.split()[0]
        assert words in html, f"section {heading!r} is missing from the slides"
