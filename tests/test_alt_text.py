"""utils.alt_text: every figure a notebook shows says what it draws, and only once asked to.

Importing a module of the course changes nothing in the kernel: the alt-text hook is installed by
the explicit ``install_alt_text()`` of each chapter's first cell, never as a side effect of
``import utils.plots`` (or of the explorers and quizzes that import it).
"""

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from utils.alt_text import describe_figure, install_alt_text
from utils.plots import attention_heatmap

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: an IPython shell with the inline backend, as in a notebook's kernel.
KERNEL = r"""
import json
from IPython.core.interactiveshell import InteractiveShell

class Shell(InteractiveShell):
    def enable_gui(self, gui=None):   # a terminal-less shell has no GUI event loop to start
        pass

shell = Shell.instance()
shell.enable_matplotlib("inline")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

png = shell.display_formatter.formatters["image/png"]
plt.close(plt.figure())   # the inline backend registers its formatters with the first figure

def state():
    return {"printers": {t.__name__: repr(f) for t, f in png.type_printers.items()},
            "hooks": len(shell.events.callbacks["pre_run_cell"])}

def shown_alt():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], label="train")
    ax.set_title("loss")
    data, metadata = shell.display_formatter.format(fig)
    plt.close(fig)
    assert "image/png" in data
    return metadata.get("image/png", {}).get("alt")

report = {"before": state()}
import utils.plots, utils.widgets, utils.quiz, utils.static_explorer, utils.alt_text  # noqa: E401 - one line of a kernel script
report["after_import"] = state()
report["alt_after_import"] = shown_alt()

utils.alt_text.install_alt_text()
report["alt_installed"] = shown_alt()
report["installed"] = state()
utils.alt_text.install_alt_text()   # a re-run first cell
report["installed_twice"] = state()

png.for_type(Figure, png.lookup_by_type(Figure).__wrapped__)   # something re-registers the plain formatter
report["alt_unwrapped"] = shown_alt()
shell.events.trigger("pre_run_cell", None)                      # the next cell starts
report["alt_next_cell"] = shown_alt()
print(json.dumps(report))
"""


def run_kernel() -> dict:
    result = subprocess.run([sys.executable, "-c", KERNEL], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_display_modules_leaves_the_kernel_alone_and_the_explicit_call_installs_alt_text():
    report = run_kernel()
    assert report["after_import"] == report["before"], "importing a course module changed IPython's display"
    assert report["alt_after_import"] is None
    assert report["alt_installed"].startswith("Figure") and "'loss'" in report["alt_installed"]
    assert report["installed"]["hooks"] == report["before"]["hooks"] + 1   # one pre_run_cell hook
    assert report["installed_twice"] == report["installed"], "a second call installs nothing more"
    assert report["alt_unwrapped"] is None and report["alt_next_cell"] == report["alt_installed"]


def test_install_outside_ipython_does_nothing():
    """Tests, scripts and the Agg backend: no shell to change, and no error."""
    assert install_alt_text() is None


def test_a_figure_is_described_from_what_it_draws():
    ax = attention_heatmap(torch.rand(3, 4), title="weights of step 2")
    text = describe_figure(ax.figure)
    assert "weights of step 2" in text and "3×4 colour map" in text and "colour bar: attention weight" in text
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1, 2], label="train")
    a.legend()
    a.set_xlabel("step")
    b.bar([0, 1], [1, 2])
    fig.suptitle("two panels")
    text = describe_figure(fig)
    assert text.startswith("Figure: two panels, 2 panels.")
    assert "1 curve (train)" in text and "x axis: step" in text and "2 bars" in text
    plt.close("all")


def test_every_chapter_installs_alt_text_in_its_first_cell():
    """The book shows the stored outputs, so the alt text must be there when a chapter runs: its
    first code cell calls ``install_alt_text()``, before any figure, in solutions/ and chapters/."""
    import nbformat

    from tools.notebooks import CHAPTERS, solution_paths

    for path in solution_paths():
        for folder in (path.parent, CHAPTERS):
            nb = nbformat.read(str(folder / path.name), as_version=4)
            first = next(c for c in nb.cells if c.cell_type == "code")
            lines = first.source.splitlines()
            assert "from utils.alt_text import install_alt_text" in lines, f"{folder.name}/{path.name}"
            assert any(line.startswith("install_alt_text()") for line in lines), f"{folder.name}/{path.name}"
