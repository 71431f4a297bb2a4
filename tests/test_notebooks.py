"""The notebooks as files: in sync, clean, structured as the authoring guide says, listed everywhere.

nbval (run by `make test` over solutions/ and chapters/) re-executes them; these tests check what
re-execution cannot: that chapters/ is what `make chapters` would generate, that metadata is clean,
that every exercise has its solution cell, its graded check cell and hidden tests, and that the
book's table of contents and the README list every chapter.
"""

import fnmatch
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from tools.notebooks import CHAPTERS, ROOT, SOLUTIONS, learner_version, metadata_problems, sync_problems

SOLUTION_PATHS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
CHAPTER_PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
ALL_PATHS = SOLUTION_PATHS + CHAPTER_PATHS


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_there_are_notebooks_to_test():
    assert SOLUTION_PATHS, "solutions/ has no chapter notebooks"
    assert [p.name for p in SOLUTION_PATHS] == [p.name for p in CHAPTER_PATHS]


def test_chapters_are_in_sync_with_solutions():
    problems = sync_problems()
    assert not problems, "\n".join(problems) + "\nRun `make chapters`."


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_metadata_is_clean_and_every_cell_ran(path):
    nb = read(path)
    nbformat.validate(nb)
    problems = metadata_problems(nb, path.name)
    assert not problems, "\n".join(problems)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "committed notebooks must be executed"


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_chapter_follows_the_template(path):
    nb = read(path)
    number = int(path.name[:2])
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert re.match(rf"# Chapter {number} — \S", first.source), "first cell: '# Chapter N — Title'"
    for heading in ("In this chapter", "Prerequisites", "Run time"):
        assert heading in first.source, f"the first cell needs '{heading}'"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Summary" in markdown and "## References" in markdown
    assert "{cite}`" in markdown, "cite the papers with {cite}`key`"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 1, "at least one figure"


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_exercises_have_solution_check_and_hidden_tests(path):
    nb = read(path)
    cells = nb.cells
    solutions = [i for i, c in enumerate(cells) if nbgrader(c).get("solution")]
    graded = [i for i, c in enumerate(cells) if nbgrader(c).get("grade")]
    assert len(solutions) >= 3, "at least three exercises"
    ids = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for i in solutions:
        assert "### BEGIN SOLUTION" in cells[i].source and "### END SOLUTION" in cells[i].source
        following = next((j for j in graded if j > i), None)
        assert following is not None and following - i <= 2, f"cell {i}: a graded check cell must follow the solution"
    for j in graded:
        meta = nbgrader(cells[j])
        assert meta.get("points", 0) > 0 and meta.get("locked") is True
        source = cells[j].source
        # the hidden test records the answer for the grader, which judges it outside the kernel
        assert "### BEGIN HIDDEN TESTS" in source and re.search(
            r'^submit\("\w+", ', source.split("### BEGIN HIDDEN TESTS")[1], re.M)
        assert re.search(r"^check_\w+\(", source, re.M), "a check cell calls a checker from utils.checks"


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.name)
def test_learner_workbooks_hide_answers_and_report_not_implemented(path):
    nb = read(path)
    text = "\n".join(c.source for c in nb.cells)
    assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text
    for cell in nb.cells:
        if nbgrader(cell).get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source
        if nbgrader(cell).get("grade"):
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "not implemented yet" in printed, f"check cell {cell.metadata['nbgrader']['grade_id']} must say so"


def test_generated_workbook_strips_only_what_it_should():
    solution = read(SOLUTION_PATHS[0])
    learner = learner_version(solution)
    assert len(learner.cells) == len(solution.cells)
    changed = [i for i, (a, b) in enumerate(zip(solution.cells, learner.cells)) if a.source != b.source]
    marked = [i for i, c in enumerate(solution.cells) if "### BEGIN" in c.source]
    assert changed == marked


def toc_files(text: str | None = None) -> list[str]:
    """The documents the table of contents lists, its glob entries expanded over the notebooks."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text() if text is None else text)
    notebooks = sorted(str(p.relative_to(ROOT).with_suffix("")) for p in SOLUTION_PATHS + CHAPTER_PATHS)
    files = []
    for part in toc["parts"]:
        for entry in part["chapters"]:
            if "glob" in entry:
                files += [n for n in notebooks if fnmatch.fnmatch(n, entry["glob"])]
            else:
                files.append(entry["file"])
    return files


def test_the_solutions_appendix_is_one_line_of_the_toc():
    lines = (ROOT / "_toc.yml").read_text().splitlines(keepends=True)
    appendix = [i for i, line in enumerate(lines) if "solutions/" in line and not line.lstrip().startswith("#")]
    assert len(appendix) == 1, "the solutions appendix should be one line, so that deleting it removes it"
    without = "".join(lines[:appendix[0]] + lines[appendix[0] + 1:])
    files = toc_files(without)
    assert not [f for f in files if f.startswith("solutions/")]
    assert [f for f in files if f.startswith("chapters/")] == [f for f in toc_files() if f.startswith("chapters/")]


def test_every_chapter_is_in_the_book_and_the_readme():
    files = toc_files()
    readme = (ROOT / "README.md").read_text()
    for path in SOLUTION_PATHS:
        stem = path.stem
        assert f"chapters/{stem}" in files, f"_toc.yml lacks chapters/{stem}"
        assert f"solutions/{stem}" in files, f"_toc.yml lacks solutions/{stem} in the appendix"
        assert f"chapters/{path.name}" in readme, f"README's chapter table lacks {path.name}"
    chapter_entries = [f for f in files if f.startswith("chapters/")]
    assert chapter_entries == sorted(chapter_entries), "chapters in teaching order"


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_points_are_shown_next_to_each_exercise(path):
    cells = read(path).cells
    for i, cell in enumerate(cells):
        if not nbgrader(cell).get("grade"):
            continue
        points = nbgrader(cell)["points"]
        statement = next(c for c in reversed(cells[:i])   # the exercise's text, not its hints
                         if c.cell_type == "markdown" and 'class="course-hint"' not in c.source)
        unit = "point" if points == 1 else "points"
        assert re.search(rf"\b{points:g} {unit}\b", statement.source), (
            f"{nbgrader(cell)['grade_id']}: the exercise text must say '({points:g} {unit})'")


EXERCISE_HEADING = re.compile(r"^### (Exercise \d+) — (.+?) \((\d+) points?\)", re.M)


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_instructors_page_covers_the_chapter(path):
    page = (ROOT / "instructors.md").read_text()
    title = read(path).cells[0].source.splitlines()[0].lstrip("# ").strip()
    assert f"## {title}" in page, f"instructors.md needs a section '## {title}'"
    section = page.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    for heading in ("Objectives", "Prerequisites", "minutes", "Common mistakes", "live-code"):
        assert heading in section, f"{title}: the instructors' section lacks '{heading}'"
    markdown = "\n".join(c.source for c in read(path).cells if c.cell_type == "markdown")
    exercises = EXERCISE_HEADING.findall(markdown)
    assert len(exercises) >= 3, "exercises are headed '### Exercise N — title (P points)'"
    for number, name, points in exercises:
        assert re.search(rf"\| {number} — {re.escape(name)} \| {points} \| ★", section), (
            f"{title}: the instructors' table must list '{number} — {name}' with {points} points")


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.name)
def test_a_prediction_is_not_answered_before_the_learner_runs_it(path):
    """A "Predict first" question: the cells that answer it open collapsed in JupyterLab (and behind
    a button in the book), until the learner runs them; the chapter's first cell does not say it."""
    nb = nbformat.read(str(path), as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or "**Predict first.**" not in cell.source:
            continue
        section = []
        for later in nb.cells[i + 1:]:
            if later.cell_type == "markdown" and re.match(r"#{1,3} ", later.source):
                break
            section.append(later)
        reveals = [c for c in section if "reveals-prediction" in c.metadata.get("tags", [])]
        assert reveals, f"{path.name}: cell {i} asks for a prediction, but no cell after it is tagged reveals-prediction"
        assert all(c.metadata.get("jupyter", {}).get("outputs_hidden") for c in reveals)
        assert all("hide-output" in c.metadata.get("tags", []) for c in reveals)
    if path.name.startswith("01"):
        assert "the ones it read first" not in nb.cells[0].source
