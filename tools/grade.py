"""Grading with nbgrader, and what learners get.

    python tools/grade.py prepare COURSE_DIR [--timeout 300] [--chapters 02 04] [--no-sandbox]
    python tools/grade.py autograde COURSE_DIR ASSIGNMENT   # nbgrader autograde + a report
    python tools/grade.py release OUT_DIR          # exactly what learners get: no answers
    python tools/grade.py audit COURSE_DIR ASSIGNMENT   # answer cells to review by hand
    python tools/grade.py expected                 # rewrite utils/checks/expected.json

``prepare`` makes COURSE_DIR/source/chNN/NN_slug.ipynb for every chapter (the solution notebooks,
outputs cleared) and COURSE_DIR/nbgrader_config.py. Then, from COURSE_DIR, with the course's
virtual environment on PATH (nbgrader runs ``alembic``)::

    nbgrader generate_assignment ch02        # release/ch02: equal in its cells to chapters/
    # collect submissions into submitted/<student>/ch02/
    nbgrader autograde ch02 --create         # --create adds students nbgrader does not know yet
    # or: python tools/grade.py autograde . ch02  (the same, then a score table; a submission
    #     that could not be graded is named, taken out of the gradebook, and the exit code is 1)
    nbgrader generate_feedback ch02          # feedback/<student>/ch02/*.html
    nbgrader export                          # grades.csv

What the configuration does (see grading/nbgrader_plugins.py):

* every graded cell's hidden test records the learner's function on visible and hidden inputs,
  and the grader judges that record in its own process with the instructors' references, so
  nothing the learner's code patches in its kernel changes a score;
* deleted or altered graded cells are restored (``OverwriteCells.add_missing_cells``), a cell
  that lost its nbgrader metadata is recognised by its id and repaired;
* a cell that runs longer than --timeout seconds is interrupted; one that ignores the interrupt
  gets the kernel restarted; either way only that cell's exercise loses its points;
* warnings on stderr in a graded cell cost nothing (they are shown in the feedback as text);
* every submission's kernel runs in a bubblewrap sandbox (grading/sandbox.py): no course
  directory, no repository, nothing writable that outlives it, no network (``--no-sandbox`` to
  turn it off where bubblewrap cannot run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from tools.notebooks import CODE_STUB, solution_paths

ROOT = Path(__file__).resolve().parent.parent


CONFIG = '''# nbgrader configuration for "Attention, step by step" (written by tools/grade.py prepare).
import os

c = get_config()
HERE = os.path.dirname(os.path.abspath(__file__))
# grading/ (the judge) is imported from the course's virtual environment: `pip install -e .` installs it
# with utils/ and tools/ (pyproject.toml), so nothing here edits sys.path.

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)

from grading.nbgrader_plugins import HardenedExecute, JudgeRecords, RepairSubmission

c.CourseDirectory.course_id = "attention-step-by-step"
c.CourseDirectory.root = HERE
# The same stub as the learner workbooks in chapters/.
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
# A cell that runs longer than this many seconds is interrupted (restarted if it ignores that).
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
# A graded cell the learner deleted is added back and graded.
c.OverwriteCells.add_missing_cells = True
c.RepairSubmission.source_root = os.path.join(HERE, "source")
c.JudgeRecords.source_root = os.path.join(HERE, "source")
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RepairSubmission,
                                      OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [HardenedExecute, JudgeRecords, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
# The kernels nbgrader starts record each graded function for JudgeRecords instead of judging it.
os.environ["ATTENTION_GRADER"] = "record"
{sandbox}'''

SANDBOX_CONFIG = '''
# Every submission's kernel runs in a bubblewrap sandbox (grading/sandbox.py): read-only, without the
# course directory or the repository, no network, its processes ended with it. It talks to nbgrader
# through Unix sockets in a fresh, short folder (a socket path must stay under 108 characters).
import atexit
import shutil
import tempfile

os.environ["JUPYTER_PATH"] = os.path.join(HERE, ".sandbox") + os.pathsep + os.environ.get("JUPYTER_PATH", "")
SOCKETS = tempfile.mkdtemp(prefix="grading-")
atexit.register(shutil.rmtree, SOCKETS, True)
c.Execute.kernel_name = "course-sandbox"
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(SOCKETS, "kernel")
'''
NO_SANDBOX_CONFIG = '''
# --no-sandbox: the learners' kernels run as this user, with this user's rights (instructors.md).
'''

# What learners get: the workbooks and the package they import, nothing that holds answers.
RELEASE_FILES = ["chapters", "utils", "requirements.txt", "pyproject.toml", "notation.md"]
LEARNER_README = """# Attention, step by step: learner's copy

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    .venv/bin/jupyter lab chapters/

Each exercise has a check under it that tells you at once whether your function is right.
Your instructor grades the notebooks with further, hidden tests.
"""


def assignment_name(path: Path) -> str:
    """``solutions/02_attention….ipynb`` -> ``ch02``."""
    return f"ch{path.name[:2]}"


def prepare(course: Path, timeout: int = 300, chapters: list[str] | None = None, sandbox: bool = True) -> list[str]:
    """Write the course directory; return the assignment names it holds. With ``sandbox`` (the
    default) every submission's kernel runs in the bubblewrap sandbox of grading/sandbox.py."""
    from grading.sandbox import KERNEL_NAME, kernelspec

    course = course.resolve()
    course.mkdir(parents=True, exist_ok=True)
    if sandbox:
        if shutil.which("bwrap") is None:
            raise SystemExit("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (Debian, Ubuntu), "
                             "or prepare with --no-sandbox and read instructors.md on what that allows")
        spec = course / ".sandbox" / "kernels" / KERNEL_NAME / "kernel.json"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(json.dumps(kernelspec(course), indent=1) + "\n")
    (course / "nbgrader_config.py").write_text(CONFIG.format(
        code_stub=CODE_STUB, timeout=timeout, sandbox=SANDBOX_CONFIG if sandbox else NO_SANDBOX_CONFIG))
    names = []
    for path in solution_paths():
        if chapters and path.name[:2] not in chapters:
            continue
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        target = course / "source" / assignment_name(path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        names.append(assignment_name(path))
    return names


def trusted_files(course: Path) -> dict[str, str]:
    """SHA-256 of every file the grader trusts: the course's ``utils/`` and ``grading/`` (bytecode
    included) and the instructors' ``source/`` notebooks."""
    import hashlib

    files: dict[str, str] = {}
    for folder in (ROOT / "utils", ROOT / "grading", course / "source"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


class CourseChanged(RuntimeError):
    """The files the grader trusts changed while nbgrader ran: the scores of that run are not trusted."""


def autograde(course: Path, assignment: str, nbgrader: str = "nbgrader",
              seed: int | None = None, jobs: int = 1) -> tuple[list[tuple], list[tuple]]:
    """Run ``nbgrader autograde ASSIGNMENT --create --force`` in ``course``; return
    ``(graded, failed)``: ``(student, notebook, score, max_score)`` for each graded notebook and
    ``(student, notebook, reason)`` for each submission that could not be graded. Failed
    submissions are removed from the gradebook, so that no export shows them as 0.

    With ``jobs`` > 1, that many learners' notebooks are graded side by side (one nbgrader per
    learner). The hidden inputs are drawn for this run: nbgrader runs with ``ATTENTION_GRADER_SEED`` set to
    ``seed`` (by default a fresh secret one), which the learners' kernels inherit and the judge in
    nbgrader's process reads, so both build the same inputs, and no table of answers made before
    the run knows them (see :mod:`utils.checks.core`).

    The files the grader trusts (:func:`trusted_files`) are compiled first, so that nbgrader's own
    imports write no bytecode, and compared after the run.

    Raises:
        CourseChanged: one of them changed during the run (the sandbox should make that impossible).
    """
    import compileall
    import secrets

    from nbgrader.api import Gradebook, MissingEntry

    from utils.checks.hidden import GRADER_SEED_ENV

    course = course.resolve()
    for folder in (ROOT / "utils", ROOT / "grading"):
        compileall.compile_dir(str(folder), quiet=2)
    before = trusted_files(course)
    failed = []
    for path in sorted((course / "submitted").glob(f"*/{assignment}/*.ipynb")):
        try:
            nbformat.validate(nbformat.read(str(path), as_version=4))
        except Exception as exc:  # noqa: BLE001 - not JSON, not a notebook, an invalid one
            failed.append((path.parent.parent.name, path.stem, f"not a valid notebook: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}"))
    env = dict(os.environ, **{GRADER_SEED_ENV: str(secrets.randbelow(2**31) if seed is None else seed)})
    command = [nbgrader, "autograde", assignment, "--create", "--force"]
    students = sorted({p.parent.parent.name for p in (course / "submitted").glob(f"*/{assignment}/*.ipynb")})
    if jobs > 1 and len(students) > 1:
        # `jobs` nbgraders side by side, each grading its share of the learners one after the other
        # (one process per learner would pay nbgrader's start-up every time); each kernel runs on
        # one core, and nbgrader writes each grade in a short transaction, which SQLite serialises
        from concurrent.futures import ThreadPoolExecutor

        env.setdefault("OMP_NUM_THREADS", "1")
        shares = [students[k::jobs] for k in range(min(jobs, len(students)))]

        def grade(share: list[str]) -> subprocess.CompletedProcess:
            others = ",".join(s for s in students if s not in share)
            return subprocess.run([*command, f"--CourseDirectory.student_id_exclude={others}"], cwd=course,
                                  capture_output=True, text=True, env=env)

        with ThreadPoolExecutor(len(shares)) as pool:
            runs = list(pool.map(grade, shares))
        sys.stderr.write("".join(run.stderr for run in runs))
    else:
        run = subprocess.run(command, cwd=course, capture_output=True, text=True, env=env)
        sys.stderr.write(run.stderr)
    after = trusted_files(course)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        raise CourseChanged(f"{len(changed)} file(s) the grader trusts changed during grading, so this run's "
                            f"scores are not trusted: {', '.join(changed[:5])}")
    graded = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for submission in gb.assignment_submissions(assignment):
            student = submission.student.id
            for notebook in submission.notebooks:
                done = (course / "autograded" / student / assignment / f"{notebook.name}.ipynb").exists()
                if done:
                    graded.append((student, notebook.name, notebook.score, notebook.max_score))
                elif not any(f[0] == student and f[1] == notebook.name for f in failed):
                    failed.append((student, notebook.name, "nbgrader could not grade it: see the log above"))
        for student, _notebook, _ in failed:
            try:
                gb.remove_submission(assignment, student)
            except MissingEntry:
                pass
    return graded, failed


def release(out: Path) -> list[Path]:
    """Copy exactly what learners get into ``out``; return the files written."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in RELEASE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, out / name)
    (out / "README.md").write_text(LEARNER_README)
    return sorted(p for p in out.rglob("*") if p.is_file())


def expected() -> Path:
    """Store the references' answers on every visible case in utils/checks/expected.json."""
    from grading.references import REFERENCES
    from utils.checks.core import STORE_PATH, capturing_expected, use_references
    from utils.checks.record import encode
    from utils.checks.submit import CHECKS, check_by_name

    with use_references(REFERENCES), capturing_expected() as store:
        for name in CHECKS:
            check = check_by_name(name)
            arity = 2 if name == "split_merge_heads" else 1
            check(*[lambda *a, **k: None] * arity, verbose=False)
    data = {check: {desc: encode(v) for desc, v in sorted(cases.items())} for check, cases in sorted(store.items())}
    STORE_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return STORE_PATH


def audit(course: Path, assignment: str) -> list[tuple[str, str, object]]:
    """``(student, file, finding)`` for everything in the submissions of ``assignment`` worth reviewing
    by hand, read without running any of it:

    * each answer cell, and each code cell the learner added or changed (:func:`grading.audit.scan`;
      a name bound in one such cell, ``import utils.attention as ua``, is followed into the next);
    * each file handed in beside the assignment's notebooks (kind ``handed-in``): nbgrader copies
      the submission folder next to the notebook it grades, where the notebook could import or
      read it; a handed-in ``.py`` file is scanned too. nbgrader's own ``timestamp.txt`` and
      Jupyter's ``.ipynb_checkpoints`` are not listed;
    * each notebook that cannot be read (the finding is then a string saying why).
    """
    import os
    import re

    from grading.audit import Finding, scan

    source_dir = course / "source" / assignment
    notebooks = {p.name for p in source_dir.glob("*.ipynb")}
    rows: list[tuple[str, str, object]] = []
    for folder in sorted(p for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir()):
        student = folder.parent.name
        handed_in = []
        for top, dirs, files in os.walk(folder):   # links are listed, never followed
            here = Path(top)
            dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints" and not (here / d).is_symlink())
            links = [d for d in os.listdir(top) if (here / d).is_symlink() and d not in files]
            for name in sorted(files + links):
                path = here / name
                relative = path.relative_to(folder).as_posix()
                if relative == "timestamp.txt":
                    continue
                if here == folder and name.endswith(".ipynb") and (not notebooks or name in notebooks) \
                        and not path.is_symlink():
                    continue   # one of the assignment's notebooks: its cells are read below
                handed_in.append((relative, path))
        modules = {Path(r).parts[0].split(".")[0] for r, _ in handed_in}   # helper.py, helper.*.so, a package
        for relative, path in handed_in:
            what = (f"a link to {os.readlink(path)}" if path.is_symlink() else f"{path.stat().st_size} bytes")
            rows.append((student, relative, Finding("(file)", 0, "handed-in",
                                                    f"not one of the assignment's notebooks ({what}); nbgrader copies "
                                                    "it beside the notebook it grades")))
            if relative.endswith(".py") and path.is_file() and not path.is_symlink():
                rows.extend((student, relative, f) for f in scan(path.read_text(errors="replace"), relative))
        for path in sorted(folder.glob("*.ipynb")):
            if path.is_symlink():
                continue   # listed above, not followed
            source = source_dir / path.name
            original = {c.source for c in nbformat.read(str(source), as_version=4).cells} if source.exists() else set()
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception as exc:  # noqa: BLE001 - a malformed submission is reported, not skipped
                rows.append((student, path.name, f"cannot be read: {type(exc).__name__}: {exc}"))
                continue
            aliases: dict[str, str] = {}   # what the scanned cells bind, followed from cell to cell
            for i, cell in enumerate(nb.cells):
                meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
                if cell.cell_type != "code" or meta.get("locked") or (not meta.get("solution") and cell.source in original):
                    continue
                label = meta.get("grade_id") or f"cell {i}"
                rows.extend((student, path.name, f) for f in scan(cell.source, label, aliases))
                for n, line in enumerate(cell.source.splitlines(), 1):   # `import helper`, helper.py handed in
                    imported = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
                    if imported and imported.group(1).split(".")[0] in modules:
                        rows.append((student, path.name, Finding(label, n, "handed-in", line.strip())))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make an nbgrader course directory from solutions/")
    p.add_argument("course", type=Path)
    p.add_argument("--timeout", type=int, default=300, help="seconds a cell may run when autograding")
    p.add_argument("--chapters", nargs="*", help="two-digit chapter numbers (default: all)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run learners' kernels without the bubblewrap sandbox (instructors.md: what that allows)")
    g = sub.add_parser("autograde", help="nbgrader autograde, then a table of scores and of submissions it could not grade")
    g.add_argument("course", type=Path)
    g.add_argument("assignment")
    g.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="submissions graded side by side (default: the cores, at most 4)")
    r = sub.add_parser("release", help="build what learners get (no solutions, no grading/)")
    r.add_argument("out", type=Path)
    a = sub.add_parser("audit", help="list, without running them, answer and learner cells that import the course's code "
                                     "or checkers, patch modules, run dynamic code, use reflection, touch files or "
                                     "start processes, and files handed in beside the notebooks")
    a.add_argument("course", type=Path)
    a.add_argument("assignment")
    sub.add_parser("expected", help="rewrite utils/checks/expected.json from grading/references.py")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        names = prepare(args.course, args.timeout, args.chapters, sandbox=not args.no_sandbox)
        print(f"{args.course}: assignments {', '.join(names)}; next: cd {args.course} && nbgrader generate_assignment {names[0]}")
    elif args.command == "autograde":
        try:
            graded, failed = autograde(args.course, args.assignment, str(Path(sys.executable).parent / "nbgrader"),
                                       jobs=args.jobs)
        except CourseChanged as exc:
            print(f"REFUSED: {exc}")
            return 2
        for student, notebook, score, max_score in graded:
            print(f"{student}\t{notebook}\t{score:g} / {max_score:g}")
        for student, notebook, reason in failed:
            print(f"{student}\t{notebook}\tNOT GRADED: {reason}")
        return 1 if failed else 0
    elif args.command == "release":
        files = release(args.out)
        print(f"{args.out}: {len(files)} files (chapters/, utils/, requirements); no solutions/, no grading/")
    elif args.command == "audit":
        rows = audit(args.course, args.assignment)
        for student, notebook, f in rows:
            print(f"{student}\t{notebook}\t{f if isinstance(f, str) else f'{f.cell} line {f.line}: {f.kind}: {f.text}'}")
        print(f"{len(rows)} finding(s)")
    elif args.command == "expected":
        print(f"wrote {expected().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
