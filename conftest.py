"""Root pytest configuration: applies to every run, `pytest solutions --nbval` included.

Kernels started by nbval inherit the environment: without progress bars the stored outputs are
reproducible, whether pytest is called from `make test` (which exports the same) or by hand.

Where the stored outputs cannot be reproduced digit for digit (on a GPU, or on another kind of
CPU than the one that made them, named in `tests/outputs_cpu.txt`, or under an
`ATEN_CPU_CAPABILITY` that emulates another CPU), cells tagged
`depends-on-training` are still run, and the claims they assert still checked, but their printed
digits are not compared. `COURSE_NBVAL_STRICT=1` compares them anyway.

The learner workbooks (`chapters/`) double as the run under another seed: each one's kernel
starts with `COURSE_SEED_OFFSET=N` (N its chapter number: other model seeds, the same data) and
another CPU's kernels (`ATEN_CPU_CAPABILITY`, see `utils.device.other_capability`), so every claim a
chapter asserts is checked once with the seeds that made its outputs (`solutions/`) and once
without them (`chapters/`). `COURSE_NBVAL_STRICT=1` runs `chapters/` with the course's own seeds
and kernels and compares every output.
"""

import copy
import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_PROGRESS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")
# The solutions' hidden tests judge their answers at once, with the instructors' judge (the
# kernels nbval starts inherit this; a learner's copy sets nothing and prints a notice instead).
os.environ.setdefault("ATTENTION_JUDGE", "grading.judge:judge")
# nbval compares outputs with the ones the course's own seeds made; the robustness tests set
# COURSE_SEED_OFFSET themselves, for the runs they start.
SEED_OFFSET_IN_SHELL = os.environ.pop("COURSE_SEED_OFFSET", None)

OUTPUTS_CPU = Path(__file__).parent / "tests" / "outputs_cpu.txt"


def recorded_cpus() -> tuple[str, dict[str, str]]:
    """The CPU that made the stored outputs, and the notebooks recorded on another one.

    ``tests/outputs_cpu.txt`` holds one line with the CPU of most notebooks, then optionally lines
    ``path/of/notebook.ipynb: CPU`` for notebooks executed on another kind of CPU."""
    default, per_file = "", {}
    lines = OUTPUTS_CPU.read_text(encoding="utf-8").splitlines() if OUTPUTS_CPU.exists() else []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, cpu = line.partition(".ipynb:")
        if sep:
            per_file[name.strip() + ".ipynb"] = cpu.strip()
        elif not default:
            default = line
    return default, per_file


def another_seed_env(notebook: str | None) -> dict[str, str] | None:
    """The environment a learner workbook's kernel starts with (``notebook`` relative to the
    repository, e.g. ``chapters/07_transformer.ipynb``), or None for every other notebook."""
    if not notebook or not notebook.startswith("chapters/") or os.environ.get("COURSE_NBVAL_STRICT") == "1":
        return None
    from utils.device import CAPABILITY_ENV, other_capability

    env = {"COURSE_SEED_OFFSET": str(int(Path(notebook).name[:2]))}
    if other_capability():
        env[CAPABILITY_ENV] = other_capability()
    return env


def relaxed_reason(notebook: str | None = None) -> str | None:
    """Why training-dependent digits cannot be compared here (for ``notebook``, a path relative to
    the repository, e.g. ``solutions/07_transformer.ipynb``), or None where they can."""
    if os.environ.get("COURSE_NBVAL_STRICT") == "1":
        return None
    if another_seed_env(notebook):
        env = another_seed_env(notebook)
        return ("the learner workbooks run under another seed and other kernels "
                f"(COURSE_SEED_OFFSET={env['COURSE_SEED_OFFSET']}, ATEN_CPU_CAPABILITY={env.get('ATEN_CPU_CAPABILITY', 'unset')})")
    import torch

    from utils.device import CAPABILITY_ENV, cpu_fingerprint, emulated_capability

    if torch.cuda.is_available():
        return "a CUDA device is present (other kernels, other random numbers)"
    if emulated_capability():
        return (f"{CAPABILITY_ENV}={emulated_capability()} selects other kernels than this CPU's "
                "(another CPU, emulated)")
    default, per_file = recorded_cpus()
    recorded = per_file.get(notebook or "", default)
    here = cpu_fingerprint()
    if here != recorded:
        return f"this CPU ({here}) is not the kind that made the stored outputs ({recorded or 'unrecorded'})"
    return None


def pytest_report_header(config):
    reason = relaxed_reason()
    lines = ["nbval: every stored output is compared" if reason is None
             else f"nbval: digits of cells tagged depends-on-training are not compared: {reason}"]
    _, per_file = recorded_cpus()
    for name in sorted(per_file):
        other = relaxed_reason(name)
        if (other is None) != (reason is None):
            lines.append(f"nbval: {name} (recorded on {per_file[name]}): "
                         + ("every stored output is compared" if other is None else "depends-on-training digits not compared"))
    if SEED_OFFSET_IN_SHELL not in (None, "", "0"):
        lines.append(f"COURSE_SEED_OFFSET={SEED_OFFSET_IN_SHELL} was set in the shell and is ignored here "
                     "(stored outputs come from the course's own seeds; see make robustness)")
    if another_seed_env("chapters/01_x.ipynb"):
        lines.append("nbval: chapters/NN_*.ipynb run under COURSE_SEED_OFFSET=NN and "
                     f"ATEN_CPU_CAPABILITY={another_seed_env('chapters/01_x.ipynb').get('ATEN_CPU_CAPABILITY', 'unset')} "
                     "(the run under another seed); solutions/ under the course's own seeds")
    return lines


def _notebook_name(item) -> str | None:
    if getattr(item, "cell", None) is None:
        return None
    path = Path(str(item.fspath)).resolve()
    root = Path(__file__).parent
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def _readme_seconds(notebook: str) -> float:
    """A chapter's run time in the README's table (``make bench``), 60 where it has none."""
    import re

    readme = Path(__file__).parent / "README.md"
    row = re.search(rf"^\| {int(Path(notebook).name[:2])} \|.*\| (\d+) s \|", readme.read_text(encoding="utf-8"), re.M)
    return float(row.group(1)) if row else 60.0


def _schedule(items) -> None:
    """Start the longest work first, so that with ``pytest -n 2 --dist loadfile`` neither core
    waits at the end.

    xdist keeps each file on one worker: a notebook's cells run in one kernel, in order, and a test
    module's fixtures are built once. A file's cost is its notebook's run time in the README's
    table, or the ``seconds`` of its ``slow`` mark. Only the order of the files changes; within a
    file it never does. (``--dist loadgroup`` cannot group here: xdist 3.8 renames node ids in a way
    pytest 9 no longer sees.)"""
    files: dict[str, list] = {}
    cost: dict[str, float] = {}
    for item in items:
        notebook = _notebook_name(item)
        slow = item.get_closest_marker("slow")
        seconds = _readme_seconds(notebook) if notebook else float(slow.kwargs.get("seconds", 0)) if slow else 0.0
        file = item.nodeid.split("::")[0]
        files.setdefault(file, []).append(item)
        cost[file] = max(cost.get(file, 0.0), seconds)
    order = sorted(files, key=lambda f: -cost[f])          # stable: ties keep the collection order
    items[:] = [item for file in order for item in files[file]]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """Start a learner workbook's kernel (nbval starts it when its first cell is set up) with the
    environment of ``another_seed_env``; the test process's own environment is restored after."""
    env = another_seed_env(_notebook_name(item))
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_collection_modifyitems(config, items):
    relax_comparisons(items)
    rerun_checks_at_the_end(items)
    _schedule(items)


def is_check_cell(cell) -> bool:
    """An exercise's check cell: nbgrader's ``test-…`` cells (locked, graded)."""
    return str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")).startswith("test-")


def rerun_checks_at_the_end(items) -> None:
    """After a notebook's last cell, run every check cell again in the same kernel, and expect the
    verdict it printed the first time (its stored output).

    This is what a learner does who solved an exercise, ran on, and went back: a later cell that
    rebinds an exercise's name (imports the course's version under it, or reuses it for a number)
    turns "✅ passed" into an accusation. In ``solutions/`` every exercise is solved, so every
    re-run must pass again; in the learner workbooks every exercise is still open, so every re-run
    must say "not implemented yet" again, not "the course's own implementation".
    """
    from nbval.plugin import IPyNbCell

    by_file: dict[object, list] = {}
    for item in items:
        if isinstance(item, IPyNbCell):
            by_file.setdefault(item.parent, []).append(item)
    for parent, cells in by_file.items():
        reruns = [IPyNbCell.from_parent(parent, name=f"{cell.name} again, after the last cell", cell_num=cell.cell_num,
                                        cell=cell.cell, options=copy.copy(cell.options))
                  for cell in cells if is_check_cell(cell.cell)]
        where = items.index(cells[-1]) + 1
        items[where:where] = reruns


def relax_comparisons(items) -> None:
    """Run, but do not compare the outputs of, `depends-on-training` cells where they cannot match.

    Training on a GPU, or on another CPU model, uses other kernels, so printed metrics differ in
    the last digits (measured: chapter 5's steps to its target went from 120 to 160 on one score
    between two CPU models); the notebooks assert their claims (e.g. accuracy >= 99%), and those
    assertions still run. On the CPU that made the outputs every output is compared.

    Cells tagged `depends-on-seed` print what the model seed alone decides (an untrained model's
    weights or loss, a draw from `seed_everything`): the same on every CPU, so compared everywhere
    except in the learner workbooks' run under another seed (``another_seed_env``).
    """
    reasons: dict[str, str | None] = {}
    for item in items:
        name = _notebook_name(item)
        if name is None:
            continue
        if name not in reasons:
            reasons[name] = relaxed_reason(name)
        tags = item.cell.get("metadata", {}).get("tags", [])
        if reasons[name] is not None and "depends-on-training" in tags:
            item.options["check"] = False
        if "depends-on-seed" in tags and another_seed_env(name):
            item.options["check"] = False   # an untrained model's or a seeded draw's digits
