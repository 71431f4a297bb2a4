"""The standard nbgrader workflow on this repository, end to end, tried as an instructor would.

For every chapter, `nbgrader generate_assignment` must produce the same cells as our learner
workbook in chapters/. Then hand-written submissions are autograded with the configuration that
`tools/grade.py prepare` writes:

* chapter 2: the solutions (full marks); one exercise wrong; an endless loop; a loop that ignores
  the interrupt; every cheat an instructor reported (a patched checker, a truthy verdict, patched
  comparisons and `torch.isclose`, the course's own implementation imported or re-exported);
  honest answers that warn; a deleted test cell, an altered one (30 points instead of 3, source
  replaced), a cell whose metadata was stripped; a file that is not a notebook;
* chapters 5 and 6: the cheats of the issue report on those chapters, and an honest answer with
  the usual causal-mask mistake (its feedback must name it).

Each cheat must score 0 for its exercise, each honest case must keep its points, the audit must
flag every cheat, and feedback and the CSV export must work.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import text as text_sql

from grading.audit import scan
from tools.grade import assignment_name, audit, prepare, release
from tools.notebooks import CHAPTERS, solution_paths
from utils.checks.exercises import EXERCISES

pytestmark = pytest.mark.slow(seconds=560)   # nbgrader generates 7 assignments and autogrades 17 submissions

BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
GRADED = "02_attention_as_weighted_average.ipynb"
# Learners' kernels run in the bubblewrap sandbox where bwrap is installed (make test installs it:
# tools/install_sandbox.sh); elsewhere the suite grades without it and skips the file cheats.
SANDBOX = shutil.which("bwrap") is not None  # the chapter whose grading path is driven whole
TIMEOUT = 60  # seconds a cell may run when autograding. The longest training cells of chapters 5 and 6 print
#              "(took 10.04 s)" and "(took 8.6 s)" on 2 cores, so a busy or slow machine still has room;
#              the endless and the deaf cell each cost this much


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=ENV,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    names = prepare(course, timeout=TIMEOUT, sandbox=SANDBOX)
    for name in names:
        nbgrader(course, "generate_assignment", name, "--force")
    return course


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", solution_paths(), ids=lambda p: p.name)
def test_generate_assignment_equals_our_learner_workbook(course, path):
    released = nbformat.read(str(course / "release" / assignment_name(path) / path.name), as_version=4)
    ours = nbformat.read(str(CHAPTERS / path.name), as_version=4)
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in ours.cells]
    assert "BEGIN HIDDEN TESTS" not in "".join(c.source for c in released.cells)


def solution_sources(prefix: str) -> dict[str, str]:
    return {nbgrader_meta(c)["grade_id"]: c.source
            for c in nbformat.read(str(solution_paths(prefix)[0]), as_version=4).cells
            if nbgrader_meta(c).get("solution")}


def make_submission(course: Path, student: str, replace: dict[str, str], chapter: str = "02",
                    mutate=None) -> None:
    """The released notebook with every exercise solved, then some answers replaced and the
    notebook changed by ``mutate(nb)``."""
    path = solution_paths(chapter)[0]
    solution = solution_sources(chapter)
    nb = nbformat.read(str(course / "release" / f"ch{chapter}" / path.name), as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution"):
            cell.source = replace.get(grade_id, solution[grade_id])
    if mutate:
        mutate(nb)
    target = course / "submitted" / student / f"ch{chapter}" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


def autograde_one_chapter(course: Path, chapter: str, replace: dict[str, str], timeout: int,
                          student: str = "mixed") -> Path:
    """A course of one chapter (so that it can run beside the others), its assignment generated, one
    submission with every exercise solved except those in ``replace``, and ``nbgrader autograde`` run."""
    assert prepare(course, timeout=timeout, chapters=[chapter], sandbox=SANDBOX) == [f"ch{chapter}"]
    nbgrader(course, "generate_assignment", f"ch{chapter}", "--force")
    make_submission(course, student, replace, chapter)
    run = subprocess.run([str(BIN / "nbgrader"), "autograde", f"ch{chapter}", "--create", "--force"],
                         cwd=course, env=ENV, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return course


def cell_with(nb, grade_id: str):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


WRONG_MASKED_SOFTMAX = """
def masked_softmax(scores, mask=None):
    return torch.softmax(scores, dim=-1)   # forgets the mask
"""
ENDLESS_ADDITIVE_SCORE = """
while True:   # never finishes: autograding must interrupt it and go on
    pass
"""
DEAF_ADDITIVE_SCORE = """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)   # ignores the interrupt: only a restart stops it
while True:
    pass
"""
WRONG_ADDITIVE = """
def additive_score(query, key, W_q, W_k, v):
    return torch.zeros(query.shape[0], query.shape[1], key.shape[1])
"""
WRONG_ATTEND = """
def attend(scores, value, mask=None):
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights
"""
CHEATS_02 = {
    # a patched checker module, a verdict that is always truthy, patched comparisons
    "ex-additive-score": "import utils.checks.attention as A\nA.check_additive_score = lambda *a, **k: True\n" + WRONG_ADDITIVE,
    "ex-masked-softmax": "import utils.checks.core\nutils.checks.core.CheckResult.__bool__ = lambda self: True\n" + WRONG_MASKED_SOFTMAX,
    "ex-attend": ("import utils.checks.core\nutils.checks.core.compare_outputs = lambda *a, **k: None\n"
                  "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)\n" + WRONG_ATTEND),
}
IMPORTS_02 = {
    # the course's implementations: the instructors' references, a library function, a re-export
    "ex-additive-score": "from grading.references import additive_score\n",
    "ex-masked-softmax": "from utils.attention import masked_softmax\n",
    "ex-attend": "import utils.attention\n\ndef attend(scores, value, mask=None):\n    return utils.attention.attend(scores, value, mask)\n",
}

REFLECTION_02 = {
    # the course's code reached where no import names it (names built from bytes, a module's vars, a
    # thread), and a watch switched off: what runs decides (utils.checks.record.CourseCodeWatch)
    "ex-masked-softmax": ("import utils.attention as _helpers\n\ndef masked_softmax(scores, mask=None):\n"
                          "    name = bytes([109, 97, 115, 107, 101, 100, 95, 115, 111, 102, 116, 109, 97, 120]).decode()\n"
                          "    return vars(_helpers)[name](scores, mask)\n"),
    "ex-attend": ("import threading\nimport utils.attention as _helpers\n\ndef attend(scores, value, mask=None):\n"
                  "    box = {}\n    name = bytes([97, 116, 116, 101, 110, 100]).decode()\n"
                  "    worker = threading.Thread(target=lambda: box.update(out=getattr(_helpers, name)(scores, value, mask)))\n"
                  "    worker.start()\n    worker.join()\n    return box[\"out\"]\n"),
    "ex-additive-score": ("import sys\n\ndef additive_score(query, key, W_q, W_k, v):\n    sys.setprofile(None)\n"
                          "    return torch.tanh((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1)) @ v\n"),
}


def file_cheats(course: Path) -> dict[str, str]:
    """What worked against the grader when learners' kernels could touch files (issue 27): copy the
    answer out of the instructors' source notebook; rewrite the references and leave bytecode for the
    judge; leave a process behind that writes a score into the gradebook after the kernel has gone.
    Each attempt is silent (wrapped in try), as a cheat would be; each answer is otherwise wrong."""
    source = course / "source" / "ch02" / GRADED
    repo = Path(__file__).resolve().parents[1]
    steal = f"""
import json
cells = json.load(open({str(source)!r}))["cells"]
exec(next("".join(c["source"]) for c in cells if "def additive_score" in "".join(c["source"])))
"""
    tamper = f"""
for path, text in [({str(repo / "grading" / "references.py")!r}, "\\nmasked_softmax = lambda s, m=None: s.softmax(-1)\\n"),
                   ({str(repo / "grading" / "__pycache__" / "judge.cpython-311.pyc")!r}, "not bytecode"),
                   ({str(source)!r}, " ")]:
    try:
        with open(path, "a") as f:
            f.write(text)
    except OSError:
        pass
""" + WRONG_MASKED_SOFTMAX
    linger = f"""
import subprocess
subprocess.Popen(["python3", "-c", "import sqlite3, time; time.sleep(8); "
                  "sqlite3.connect({str(course / "gradebook.db")!r}).execute('PRAGMA user_version = 7').connection.commit(); "
                  "open({str(course / "lingered.txt")!r}, 'w').write('still here')"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""" + WRONG_ATTEND
    return {"ex-additive-score": steal, "ex-masked-softmax": tamper, "ex-attend": linger}


def warning_answers() -> dict[str, str]:
    sol = solution_sources("02")
    additive = sol["ex-additive-score"].replace(
        "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    v = torch.tensor(v)   # UserWarning: copy construct from a tensor\n")
    softmax = sol["ex-masked-softmax"].replace(
        "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    import warnings\n    warnings.warn('my own warning', DeprecationWarning)\n")
    return {"ex-additive-score": additive, "ex-masked-softmax": softmax}


def delete_test_cell(nb):
    nb.cells.remove(cell_with(nb, "test-masked-softmax"))


def alter_test_cell(nb):
    cell = cell_with(nb, "test-attend")
    cell.metadata["nbgrader"]["points"] = 30
    cell.source = "pass  # no check here"


def duplicate_check_cell(nb):
    """A check cell copied and pasted (a new cell id, the same nbgrader metadata)."""
    cell = cell_with(nb, "test-masked-softmax")
    twin = nbformat.from_dict(json.loads(json.dumps(cell)))
    twin["id"] = "pasted-copy"
    nb.cells.insert(nb.cells.index(cell) + 1, twin)


FAKE_VERDICT = ("print('✅ attend: passed (4 cases) [judged by the grader, hidden cases included]')\n"
                + WRONG_ATTEND)


def strip_metadata(nb):
    cell = cell_with(nb, "ex-attend")
    del cell.metadata["nbgrader"]


STUDENTS_02 = {
    "complete": ({}, None),
    "one_wrong": ({"ex-masked-softmax": WRONG_MASKED_SOFTMAX}, None),
    "one_endless": ({"ex-additive-score": ENDLESS_ADDITIVE_SCORE}, None),
    "one_deaf": ({"ex-additive-score": DEAF_ADDITIVE_SCORE}, None),
    "cheat_patches": (CHEATS_02, None),
    "cheat_imports": (IMPORTS_02, None),
    "cheat_reflection": (REFLECTION_02, None),
    "warnings": (None, None),
    "deleted_test": ({}, delete_test_cell),
    "altered_test": ({}, alter_test_cell),
    "stripped_metadata": ({}, strip_metadata),
    "duplicated_check": ({}, duplicate_check_cell),
    "fake_verdict": ({"ex-attend": FAKE_VERDICT}, None),
}
EXPECTED_02 = {
    "complete": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "one_wrong": {"test-additive-score": 3, "test-masked-softmax": 0, "test-attend": 2},
    "one_endless": {"test-additive-score": 0, "test-masked-softmax": 3, "test-attend": 2},
    "one_deaf": {"test-additive-score": 0, "test-masked-softmax": 3, "test-attend": 2},
    "cheat_patches": {"test-additive-score": 0, "test-masked-softmax": 0, "test-attend": 0},
    "cheat_imports": {"test-additive-score": 0, "test-masked-softmax": 0, "test-attend": 0},
    "cheat_reflection": {"test-additive-score": 0, "test-masked-softmax": 0, "test-attend": 0},
    "warnings": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "deleted_test": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "altered_test": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "stripped_metadata": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "duplicated_check": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2},
    "fake_verdict": {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 0},
}
if SANDBOX:
    EXPECTED_02["cheat_files"] = {"test-additive-score": 0, "test-masked-softmax": 0, "test-attend": 0}

# chapter 5: the issue's cheats, each on wrong or borrowed answers
CHEATS_05 = {
    "ex-general-score": "from grading.references import general_score\n",
    "ex-luong-step": ("import utils.checks.luong as L\nL.check_luong_step = lambda *a, **k: True\n\n"
                      "def luong_step(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):\n"
                      "    B, S = src_mask.shape\n"
                      "    z = torch.zeros(B, decoder.out.out_features)\n"
                      "    return z, h_prev, h_tilde_prev, torch.zeros(B, S)\n"),
    "ex-local-p": ("from utils.luong import local_weights, predict_position\n\n"
                   "def local_p(scores, h_t, W_p, v_p, src_lengths, D):\n"
                   "    p = predict_position(h_t, W_p, v_p, src_lengths)\n"
                   "    S = scores.shape[1]\n"
                   "    mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)\n"
                   "    return local_weights(scores.unsqueeze(1), p.unsqueeze(1), D, mask, gaussian=True).squeeze(1), p\n"),
}
# chapter 6: heads re-exported from utils, the usual tril(-1) mistake, a right answer that warns
CAUSAL_TRIL_MINUS_ONE = """
def causal_attention(query, key, value):
    T = query.shape[-2]
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    allowed = torch.ones(T, T, dtype=torch.bool).tril(-1)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return weights @ value, weights
"""
MIXED_06 = {
    "ex-causal-attention": CAUSAL_TRIL_MINUS_ONE,
    "ex-split-merge-heads": "from utils.transformer import merge_heads, split_heads\n",
}


def deprecated_range_answer() -> str:
    return solution_sources("06")["ex-sinusoidal-encoding"].replace(
        "position = torch.arange(max_len, dtype=torch.float64)[:, None]",
        "position = torch.range(0, max_len - 1, dtype=torch.float64)[:, None]   # deprecated: warns")


@pytest.fixture(scope="module")
def graded(course) -> Path:
    for student, (replace, mutate) in STUDENTS_02.items():
        make_submission(course, student, warning_answers() if replace is None else replace, "02", mutate)
    if SANDBOX:
        make_submission(course, "cheat_files", file_cheats(course), "02")
    protected = {path: path.read_bytes() for path in (Path(__file__).resolve().parents[1] / "grading").glob("*.py")}
    protected[course / "source" / "ch02" / GRADED] = (course / "source" / "ch02" / GRADED).read_bytes()
    broken = course / "submitted" / "not_a_notebook" / "ch02" / GRADED
    broken.parent.mkdir(parents=True)
    broken.write_text("{ this is not json")
    make_submission(course, "cheats", CHEATS_05, "05")
    make_submission(course, "mixed", MIXED_06 | {"ex-sinusoidal-encoding": deprecated_range_answer()}, "06")
    make_submission(course, "complete", {}, "06")
    # chapter 2 through the report command, chapters 5 and 6 through plain nbgrader
    report = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "tools" / "grade.py"), "autograde",
                             str(course), "ch02"], env=ENV, capture_output=True, text=True, timeout=1800)
    logs = {"ch02": report.stderr, "report": report.stdout, "report_rc": report.returncode}
    for assignment in ("ch05", "ch06"):
        run = subprocess.run([str(BIN / "nbgrader"), "autograde", assignment, "--create", "--force"],
                             cwd=course, env=ENV, capture_output=True, text=True, timeout=1800)
        logs[assignment] = run.stderr + run.stdout
    (course / "autograde-logs.json").write_text(json.dumps(logs))
    time.sleep(10)   # what a process left behind by the kernel would have done by now
    changed = [str(path) for path, content in protected.items() if path.read_bytes() != content]
    (course / "changed-files.json").write_text(json.dumps(changed))
    return course


def scores(course: Path, student: str, assignment: str = "ch02") -> dict[str, float]:
    from nbgrader.api import Gradebook

    notebook_name = solution_paths(assignment[2:])[0].name.removesuffix(".ipynb")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(notebook_name, assignment, student)
        return {g.name: g.score for g in notebook.grades}


def log(course: Path, assignment: str) -> str:
    return json.loads((course / "autograde-logs.json").read_text())[assignment]


def graded_cell_text(course: Path, student: str, assignment: str, grade_id: str) -> str:
    path = course / "autograded" / student / assignment / solution_paths(assignment[2:])[0].name
    cell = cell_with(nbformat.read(str(path), as_version=4), grade_id)
    return "\n".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs)


@pytest.mark.parametrize("student", list(EXPECTED_02))
def test_chapter_2_scores(graded, student):
    assert scores(graded, student) == EXPECTED_02[student]


@pytest.mark.skipif(not SANDBOX, reason="bubblewrap is not installed (tools/install_sandbox.sh)")
def test_a_kernel_writes_no_file_the_grader_reads_and_leaves_no_process(graded):
    """The file cheats of cheat_files (graded before "complete", whose 8 points test_chapter_2_scores
    checks): nothing the grader reads changed, the lingering process died with its kernel, and the
    grading/ package gained no bytecode from a kernel."""
    from nbgrader.api import Gradebook

    assert json.loads((graded / "changed-files.json").read_text()) == []
    assert not (graded / "lingered.txt").exists()
    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
        assert gb.db.execute(text_sql("PRAGMA user_version")).scalar() == 0
    pyc = Path(__file__).resolve().parents[1] / "grading" / "__pycache__" / "judge.cpython-311.pyc"
    assert not pyc.exists() or b"not bytecode" not in pyc.read_bytes()


def test_a_printed_verdict_is_not_the_graders_and_a_copied_check_is_graded_once(graded):
    from grading.judge import SUFFIX

    nb = nbformat.read(str(graded / "autograded" / "fake_verdict" / "ch02" / GRADED), as_version=4)
    answer = cell_with(nb, "ex-attend")
    assert "removed by the grader" in json.dumps(answer.outputs)
    assert all(SUFFIX not in json.dumps(c.outputs) for c in nb.cells
               if c.cell_type == "code" and nbgrader_meta(c).get("grade_id") != "test-additive-score"
               and nbgrader_meta(c).get("grade_id") != "test-masked-softmax")   # only the grader's own verdicts
    assert "a graded or answer cell was there twice" in log(graded, "ch02")
    report = json.loads((graded / "autograde-logs.json").read_text())["report"]
    assert next(line for line in report.splitlines() if line.startswith("duplicated_check")).endswith("8 / 8")


def test_cheats_on_chapters_5_and_6_score_zero(graded):
    assert scores(graded, "cheats", "ch05") == {"test-general-score": 0, "test-luong-step": 0, "test-local-p": 0}
    assert scores(graded, "mixed", "ch06") == {"test-causal-attention": 0, "test-split-merge-heads": 0,
                                               "test-sinusoidal-encoding": 2}
    assert scores(graded, "complete", "ch06") == {"test-causal-attention": 3, "test-split-merge-heads": 3,
                                                  "test-sinusoidal-encoding": 2}


def test_verdicts_say_why(graded):
    text = graded_cell_text(graded, "cheat_imports", "ch02", "test-masked-softmax")
    assert "course's own implementation" in text
    assert "runs the course's own implementation (utils.attention:attend)" in graded_cell_text(
        graded, "cheat_reflection", "ch02", "test-attend")
    assert "switched off the grader's watch" in graded_cell_text(graded, "cheat_reflection", "ch02", "test-additive-score")
    text = graded_cell_text(graded, "cheat_patches", "ch02", "test-additive-score")
    assert "recorded no answer" in text
    text = graded_cell_text(graded, "mixed", "ch06", "test-causal-attention")
    assert "tril(-1)" in text and "NaN" in text
    text = graded_cell_text(graded, "warnings", "ch02", "test-additive-score")
    assert "warn" in text and "not counted" in text and "✅" in text
    assert "✅" in graded_cell_text(graded, "mixed", "ch06", "test-sinusoidal-encoding")
    assert "did not stop when interrupted" in graded_cell_text(graded, "one_deaf", "ch02", "test-additive-score") or \
        "did not stop when interrupted" in (graded / "autograded" / "one_deaf" / "ch02" / GRADED).read_text()


def test_the_logs_name_tampering_and_nothing_else(graded):
    text = log(graded, "ch02")
    assert "Attribute 'checksum' for cell test-additive-score" not in text   # untouched cells are quiet
    assert "Attribute 'points' for cell test-attend has changed" in text      # the real tampering shows
    assert "restored" in text and "ex-attend" in text                         # the stripped metadata
    assert "not_a_notebook" in text                                           # reported by name
    assert "root '.' is not absolute" not in text and "allow_errors" not in text


def test_a_malformed_submission_is_reported_not_scored_silently(graded):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb, pytest.raises(MissingEntry):
        gb.find_submission_notebook(GRADED.removesuffix(".ipynb"), "ch02", "not_a_notebook")
    report = log(graded, "report")
    assert "not_a_notebook\t02_attention_as_weighted_average\tNOT GRADED: not a valid notebook" in report
    assert "complete\t02_attention_as_weighted_average\t8 / 8" in report
    assert log(graded, "report_rc") == 1


def test_audit_flags_every_cheat(graded):
    rows = audit(graded, "ch02") + audit(graded, "ch05") + audit(graded, "ch06")
    flagged = {(student, getattr(f, "cell", None)) for student, _, f in rows}
    for student, answers in (("cheat_patches", CHEATS_02), ("cheat_imports", IMPORTS_02),
                             ("cheat_reflection", REFLECTION_02), ("cheats", CHEATS_05)):
        for grade_id in answers:
            assert (student, grade_id) in flagged, (student, grade_id, rows)
    assert ("mixed", "ex-split-merge-heads") in flagged
    assert not any(student == "complete" for student, _, _ in rows)            # honest work is not flagged
    assert any(student == "not_a_notebook" and "cannot be read" in str(f) for student, _, f in rows)


def test_audit_kinds():
    kinds = {f.kind for f in scan("import sys\nsys.modules['torch'] = None\nimport builtins\n"
                                  "builtins.print = None\nfrom utils.checks import core\n"
                                  "core.CheckResult.__bool__ = lambda s: True\nfrom utils.attention import attend\n", "x")}
    assert {"patch", "checker", "course-import"} <= kinds


def test_feedback_and_grade_export(graded):
    nbgrader(graded, "generate_feedback", "ch02", "--force")
    for student in ("complete", "one_wrong", "one_endless", "warnings"):
        page = graded / "feedback" / student / "ch02" / GRADED.replace(".ipynb", ".html")
        assert page.exists() and "masked_softmax" in page.read_text()
        assert "vnd.attention-step-by-step" not in page.read_text()   # the record is not shown
    nbgrader(graded, "export", "--to", str(graded / "grades.csv"))
    with open(graded / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == "ch02"}
    expected = {k: float(sum(v.values())) for k, v in EXPECTED_02.items()}
    assert {k: float(rows[k]["raw_score"]) for k in expected} == expected
    assert all(float(rows[k]["max_score"]) == 8.0 for k in expected)
    # not_a_notebook has no submission left in the gradebook: the export shows it like a student who
    # handed nothing in, and the report (test above) names it and exits with 1


def test_release_holds_no_solution_code(tmp_path):
    files = release(tmp_path / "learners")
    names = {p.relative_to(tmp_path / "learners").parts[0] for p in files}
    assert names == {"chapters", "utils", "requirements.txt", "pyproject.toml", "notation.md", "README.md"}
    assert not any("solutions" in p.parts or "grading" in p.parts for p in files)

    def code_lines(text: str) -> list[str]:
        return [c for c in (line.split("#")[0].strip() for line in text.splitlines()) if c]

    shipped = []
    for p in files:
        if p.suffix == ".ipynb":
            shipped += ["\n".join(code_lines(c.source)) for c in nbformat.read(str(p), as_version=4).cells]
        elif p.suffix in (".py", ".md", ".json", ".txt"):
            shipped.append("\n".join(code_lines(p.read_text())))
    text = "\n".join(shipped)
    assert "def reference_" not in text and "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    n = 0
    for path in solution_paths():
        for grade_id, source in solution_sources(path.name[:2]).items():
            body = "\n".join(code_lines(source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]))
            assert body and body not in text, f"{path.name} {grade_id}: the answer is in the release"
            n += 1
    assert n == len(EXERCISES)   # every exercise of the course was looked for


def test_autograde_refuses_when_a_trusted_file_changes_during_the_run(tmp_path):
    """Defence in depth behind the sandbox: if anything rewrote the instructors' source notebook (or
    utils/, grading/) while nbgrader ran, the run's scores are refused, not reported."""
    from tools.grade import CourseChanged, autograde

    source = tmp_path / "source" / "ch02" / GRADED
    source.parent.mkdir(parents=True)
    source.write_text("{}")
    fake = tmp_path / "fake-nbgrader"
    fake.write_text(f"#!/bin/sh\necho tampered >> {source}\n")
    fake.chmod(0o755)
    with pytest.raises(CourseChanged, match="changed during grading"):
        autograde(tmp_path, "ch02", nbgrader=str(fake))
