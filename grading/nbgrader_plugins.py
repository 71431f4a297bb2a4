"""nbgrader preprocessors that make autograding trustworthy (configured by tools/grade.py).

* :class:`RepairSubmission` (sanitising, before ``OverwriteCells``): a graded cell whose nbgrader
  metadata the learner stripped is recognised by its cell id and given its metadata back, so it
  is restored and graded instead of crashing nbgrader; what was repaired is logged by name. A
  locked cell that is exactly as released gets its hidden tests back before nbgrader compares
  checksums (nbgrader stores the checksum of the cell *with* its hidden tests, so every untouched
  submission used to raise three "checksum has changed" warnings and real tampering was lost
  among them).
* :class:`HardenedExecute` (instead of ``Execute``): runs only the cells grading needs (the graded
  cells and what they use, :func:`grading.needed.cells_to_run`; the others keep their source and
  get a one-line note instead of outputs), so that grading does not retrain the chapter's models.
  A cell that ignores the interrupt after the time limit no longer makes nbgrader abandon the
  notebook: the kernel is restarted, the cells before it run again, the cell gets an error
  output, and grading goes on: only that cell's exercise is lost.
* :class:`JudgeRecords` (after execution): each graded cell's record (from
  :func:`utils.checks.submit.submit`) is judged here, in nbgrader's process, by
  :func:`grading.judge.judge`; the cell gets the verdict as an error (0 points) or a line of text.
  Warnings that learner code printed on stderr in a graded cell become ordinary text, so a correct
  answer that warns keeps its points and the feedback still shows the warning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Unicode

from grading.judge import judge
from grading.needed import NOT_RUN, cells_to_run
from utils.checks.submit import MIME

SUBMIT = re.compile(r"""submit\(\s*["'](\w+)["']""")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _source_notebook(source_root: str, resources: dict) -> NotebookNode | None:
    info = resources.get("nbgrader", {})
    path = Path(source_root) / str(info.get("assignment", "")) / f"{info.get('notebook', '')}.ipynb"
    return nbformat.read(str(path), as_version=4) if source_root and path.exists() else None


def _released(cell) -> str:
    """The cell's source as learners got it (hidden tests removed, as generate_assignment does)."""
    from nbgrader.preprocessors import ClearHiddenTests

    copy = nbformat.from_dict(json.loads(json.dumps(cell)))
    ClearHiddenTests().preprocess_cell(copy, {}, 0)
    return copy.source


def _without_imitation(output):
    """``output``, or a notice in its place when the notebook printed a line in the grader's own words."""
    from grading.judge import SUFFIX

    text = json.dumps(output.get("text", "")) + json.dumps(output.get("data", {})) + str(output.get("evalue", ""))
    if SUFFIX.strip(" []") not in text:
        return output
    return NotebookNode(output_type="stream", name="stdout",
                        text="⚠ removed by the grader: this output imitated the grader's verdict\n")


class RepairSubmission(NbGraderPreprocessor):
    """Give graded and answer cells their nbgrader metadata back when a submission lost it."""

    source_root = Unicode("", help="the course's source/ folder").tag(config=True)

    def preprocess(self, nb, resources):
        source = _source_notebook(self.source_root, resources)
        if source is None:
            return nb, resources
        by_id = {c.get("id"): c for c in source.cells if _meta(c)}
        by_grade_id = {_meta(c).get("grade_id"): c for c in source.cells if _meta(c)}
        present = {_meta(c).get("grade_id") for c in nb.cells if _meta(c)}
        for cell in nb.cells:
            original = by_grade_id.get(_meta(cell).get("grade_id"))
            if original is not None and _meta(original).get("locked") and cell.source == _released(original):
                cell.source = original.source  # untouched: nbgrader's checksum is of this source
        for cell in nb.cells:
            original = by_id.get(cell.get("id"))
            if original is None or _meta(cell) or _meta(original).get("grade_id") in present:
                continue
            cell.metadata["nbgrader"] = dict(_meta(original))
            cell.metadata["nbgrader"].pop("checksum", None)
            present.add(_meta(original).get("grade_id"))
            self.log.warning("%s: cell %s had lost its nbgrader metadata; restored",
                             resources.get("nbgrader", {}).get("notebook"), _meta(original).get("grade_id"))
        for cell in nb.cells:
            if "nbgrader" in cell.get("metadata", {}) and not cell.metadata["nbgrader"]:
                # nbgrader's DeduplicateIds empties the metadata of all but the last copy of a cell
                # that a learner duplicated; an empty dict would crash OverwriteCells (KeyError:
                # 'grade_id'): the copy becomes an ordinary cell and the cell is graded once
                del cell.metadata["nbgrader"]
                self.log.warning("%s: a graded or answer cell was there twice; the last copy is graded, "
                                 "the other kept as an ordinary cell", resources.get("nbgrader", {}).get("notebook"))
        return nb, resources


class HardenedExecute(Execute):
    """``Execute`` that runs only what grading needs and survives a cell which ignores the
    interrupt (see the module docstring)."""

    only_needed = Bool(True, help="run only the graded cells and the cells they need "
                                  "(grading.needed); False runs every cell").tag(config=True)

    def preprocess(self, nb, resources=None, *args, **kwargs):
        self._run = cells_to_run(nb.cells) if self.only_needed else set(range(len(nb.cells)))
        return super().preprocess(nb, resources, *args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and index not in self._run:
            cell.outputs, cell.execution_count = [NotebookNode(output_type="stream", name="stdout", text=NOT_RUN)], None
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except Exception as exc:  # nbclient: CellTimeoutError("Timeout waiting for IOPub output")
            if "Timeout" not in type(exc).__name__ and "timeout" not in str(exc).lower():
                raise
        self.log.warning("cell %d ignored the interrupt; restarting the kernel", cell_index)
        await self._restart_and_replay(cell_index)
        cell.outputs = [NotebookNode(
            output_type="error", ename="CellTimeoutError",
            evalue=f"this cell ran for more than {self.timeout} s and did not stop when interrupted",
            traceback=[f"CellTimeoutError: this cell ran for more than {self.timeout} s and did not "
                       "stop when interrupted; the kernel was restarted and the cells before it run "
                       "again, so the rest of the notebook is still graded"])]
        self._hung = getattr(self, "_hung", set()) | {cell_index}
        return cell

    # nbclient binds the synchronous wrapper to its own coroutine: bind it to ours.
    execute_cell = run_sync(async_execute_cell)

    async def _restart_and_replay(self, cell_index: int) -> None:
        from jupyter_client.utils import ensure_async

        await ensure_async(self.km.restart_kernel(now=True))
        await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        hung = getattr(self, "_hung", set()) | {cell_index}
        for i, earlier in enumerate(self.nb.cells[:cell_index]):
            if earlier.cell_type == "code" and i not in hung and i in self._run:
                await super().async_execute_cell(earlier, i, store_history=True)


class JudgeRecords(NbGraderPreprocessor):
    """Judge each graded cell's record outside the kernel (see the module docstring)."""

    source_root = Unicode("", help="the course's source/ folder").tag(config=True)

    def preprocess(self, nb, resources):
        for cell in nb.cells:   # the verdict is the grader's to write: a printed imitation is removed
            if cell.cell_type == "code":
                cell.outputs = [_without_imitation(o) for o in cell.get("outputs", [])]
        source = _source_notebook(self.source_root, resources)
        original = {c.source for c in source.cells} if source is not None else set()
        original_lines = {line.strip() for text in original for line in text.splitlines()}
        answers = {_meta(c).get("grade_id"): c.source for c in nb.cells if _meta(c).get("solution")}
        # the learner's own lines in other cells: a setup cell they edited keeps the course's
        # imports, which are not theirs to answer for (what their answer runs is judged anyway)
        others = ["\n".join(line for line in c.source.splitlines() if line.strip() not in original_lines)
                  for c in nb.cells if c.cell_type == "code" and not _meta(c) and c.source not in original]
        for cell in nb.cells:
            meta = _meta(cell)
            if cell.cell_type != "code" or not meta.get("grade"):
                continue
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"
                    out["text"] = "".join(f"⚠ (printed on stderr, not counted) {line}"
                                          for line in str(out.get("text", "")).splitlines(True))
            wanted = SUBMIT.search(cell.source)
            if not wanted:
                continue
            records = [o for o in cell.outputs if MIME in o.get("data", {})]
            cell.outputs = [o for o in cell.outputs if MIME not in o.get("data", {})]
            if any(o.get("output_type") == "error" for o in cell.outputs):
                continue  # the cell failed already: no points
            if len(records) != 1:
                verdict_text = ("❌ the hidden test left no record (did the cell stop early?)" if not records
                                else "❌ several records in one cell: only the hidden test may make one")
                passed = False
            else:
                data = records[0]["data"][MIME]
                rec = json.loads(data) if isinstance(data, str) else json.loads(json.dumps(data))
                exercise = str(meta.get("grade_id", "")).replace("test-", "ex-", 1)
                sources = {"answer": answers.get(exercise, "")}
                sources.update({f"other {i}": s for i, s in enumerate(others)})
                verdict = judge(rec, wanted.group(1), sources)
                passed, verdict_text = verdict.passed, verdict.message
                for warning in (rec.get("warnings") or [])[:5]:
                    cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                                     text=f"⚠ your code warned (not counted): {warning}\n"))
            if passed:
                cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=verdict_text + "\n"))
            else:
                cell.outputs.append(NotebookNode(output_type="error", ename="GradingError",
                                                 evalue=verdict_text, traceback=[f"GradingError: {verdict_text}"]))
        return nb, resources
