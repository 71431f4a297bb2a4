"""Judge a record made in a learner's kernel, in a process that never ran the learner's code.

:func:`judge` runs the exercise's checker again, on the visible and the hidden cases, with the
instructors' references installed and a :class:`~utils.checks.record.Replayer` standing in for
the learner's function: it gives back what the learner's function returned on exactly these
inputs, or fails. See :mod:`utils.checks.record` for why a patched kernel cannot pass this.
"""

from __future__ import annotations

from dataclasses import dataclass

from grading.audit import own_implementation_uses
from grading.references import OWN_IMPLEMENTATION, REFERENCES
from utils.checks.core import use_references
from utils.checks.record import FORMAT, Replayer
from utils.checks.submit import CHECKS, check_by_name

SUFFIX = " [judged by the grader, hidden cases included]"

# Every checker is imported now, when nbgrader loads its configuration, before any learner's kernel
# starts: nothing a kernel could write later (a module, its bytecode) is imported by the grader.
# tools/grade.py autograde also compares the SHA-256 of these files before and after a run.
CHECKERS = {name: check_by_name(name) for name in CHECKS}


@dataclass
class Verdict:
    passed: bool
    message: str


def _bare(name: str) -> str:
    return name.lstrip("_")


def course_code_that_ran(name: str, calls: list) -> str | None:
    """Why the answer is refused, if the course's own implementation of exercise ``name`` ran inside
    the learner's function (:class:`utils.checks.record.CourseCodeWatch`), or the answer switched
    off the watch; None otherwise. A function counts when its name, or its class's, is one of the
    exercise's own names (:data:`grading.references.OWN_IMPLEMENTATION`, leading underscores ignored)."""
    own = {_bare(n) for n in OWN_IMPLEMENTATION.get(name, set())}
    for entry in (e for c in calls if c for e in c if isinstance(e, dict)):
        if entry.get("unwatched"):
            return "the answer switched off the grader's watch on which code runs (sys.setprofile)"
        for ran in entry.get("ran") or []:
            qualname = str(ran).partition(":")[2]
            if any(_bare(part) in own for part in qualname.split(".")):
                return (f"the answer runs the course's own implementation ({ran}), however it reached it; "
                        "write the function yourself")
    return None


def judge(record: object, expected_check: str | None = None,
          answer_sources: dict[str, str] | None = None) -> Verdict:
    """The verdict on ``record`` (as :func:`utils.checks.submit.record` makes it).

    Args:
        record: the record from the learner's kernel (untrusted: any JSON value).
        expected_check: the exercise the graded cell asks for; a record of another one fails.
        answer_sources: the learner's code, ``{"answer": the exercise's answer cell,
            "other": every other cell the learner wrote or changed}``; an answer that imports or
            calls the course's own implementation of the exercise fails.
    """
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("check") not in CHECKS:
        return Verdict(False, "❌ the record of this exercise is missing or malformed")
    name = record["check"]
    if expected_check is not None and name != expected_check:
        return Verdict(False, f"❌ this cell grades {expected_check}, but the record is of {name}")
    for answer in record.get("answers") or []:
        module = str(answer.get("module", "")) if isinstance(answer, dict) else ""
        if module == "utils" or module.startswith(("utils.", "grading")) and not module.startswith("utils.checks"):
            return Verdict(False, f"❌ {name}: the answer is the course's own implementation "
                                  f"({module}.{answer.get('name')}), not yours")
    for where, source in (answer_sources or {}).items():
        uses = own_implementation_uses(source, name, answer_cell=(where == "answer"))
        if uses:
            return Verdict(False, f"❌ {name}: the answer uses the course's own implementation "
                                  f"({uses[0]!r}); write the function yourself")
    calls = record.get("calls")
    if not isinstance(calls, list) or not all(c is None or isinstance(c, list) for c in calls):
        return Verdict(False, f"❌ {name}: the record of this exercise is malformed")
    refused = course_code_that_ran(name, calls)
    if refused:
        return Verdict(False, f"❌ {name}: {refused}")
    replayers = [Replayer(c, name) if c is not None else None for c in calls]
    try:
        with use_references(REFERENCES):
            result = CHECKERS[name](*replayers, verbose=False, hidden=True)
    except Exception as exc:  # noqa: BLE001 - a forged or truncated record may raise anything
        return Verdict(False, f"❌ {name}: the record could not be judged ({type(exc).__name__}: {exc})")
    message = result.message + (SUFFIX if result.passed else "")
    return Verdict(bool(result.passed is True), message)
