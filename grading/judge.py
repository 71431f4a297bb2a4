"""Judge a record made in a learner's kernel, in a process that never ran the learner's code.

:func:`judge` runs the exercise's checker again, on the visible and the hidden cases, with the
instructors' references installed and a :class:`~utils.checks.record.Replayer` standing in for
the learner's function: it gives back what the learner's function returned on exactly these
inputs, or fails. See :mod:`utils.checks.record` for why a patched kernel cannot pass this.
"""

from __future__ import annotations

from dataclasses import dataclass

from grading.audit import own_implementation_uses
from grading.references import REFERENCES
from utils.checks.core import use_references
from utils.checks.record import FORMAT, Replayer
from utils.checks.submit import CHECKS, check_by_name

SUFFIX = " [judged by the grader, hidden cases included]"


@dataclass
class Verdict:
    passed: bool
    message: str


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
    replayers = [Replayer(c, name) if c is not None else None for c in calls]
    try:
        with use_references(REFERENCES):
            result = check_by_name(name)(*replayers, verbose=False, hidden=True)
    except Exception as exc:  # noqa: BLE001 - a forged or truncated record may raise anything
        return Verdict(False, f"❌ {name}: the record could not be judged ({type(exc).__name__}: {exc})")
    message = result.message + (SUFFIX if result.passed else "")
    return Verdict(bool(result.passed is True), message)
