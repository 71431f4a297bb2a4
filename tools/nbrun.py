"""Run a notebook cell by cell in a fresh kernel and say which cell failed, if one did.

Shared by `tools/bench.py` (run time and memory) and `tools/robustness.py` (claims under other
seeds): both must go on to the next notebook when one fails, and report the failing cell and the
line that raised rather than crash with a traceback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(traceback_text: str) -> str:
    """The line of the notebook cell that raised: the arrow line of the traceback's last cell frame
    (for a failed ``assert``, the assert itself); else the traceback's last line."""
    text = ANSI.sub("", traceback_text)
    frames = re.split(r"\n(?=Cell In\[)", text)
    cell_frames = [f for f in frames if f.startswith("Cell In[")] or frames
    for line in cell_frames[-1].splitlines():
        match = re.match(r"\s*-+>\s*\d+\s(.*)", line)
        if match:
            return match.group(1).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "?"


POLL_S = 1.0  # how long one wait for the kernel's reply may block before it is asked again


def patient_shell(client: NotebookClient) -> None:
    """Wait for the kernel's replies in short polls instead of one long one.

    A cell that shows a widget sometimes never gets its reply: the kernel has answered and gone
    idle, but one long ``get_msg(timeout=600)`` on the shell channel does not return until the
    timeout (nbclient issue 312, open). Asking again every second receives it at once.
    """
    channel = client.kc.shell_channel
    get_msg = channel.get_msg

    async def polled(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = polled


class PatientClient(NotebookClient):
    """A ``NotebookClient`` whose kernel client waits for replies in short polls (see
    :func:`patient_shell`). ``tools/notebooks.py`` executes notebooks with it too."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        patient_shell(self)
        return kc


def run_cells(path: Path, timeout: int = 900,
              after: Callable[[NotebookClient, nbformat.NotebookNode], None] | None = None,
              keep_going: bool = False) -> list[dict]:
    """Execute the notebook at ``path`` top to bottom; stop at the first cell that raises, or with
    ``keep_going`` run every cell and collect each failure.

    ``after(client, nb)`` runs in the same kernel once the cells are done (or one has failed), for
    reading values out of it.

    Returns:
        The failures, in order (empty if every cell ran): ``{"cell": notebook index, "code_cell":
        index among code cells (nbval's "Cell N"), "error": "AssertionError: …", "line": the line
        that raised}``.
    """
    nb = nbformat.read(str(path), as_version=4)
    client = PatientClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}})
    failures: list[dict] = []
    with client.setup_kernel():
        code_index = -1
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            code_index += 1
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                failures.append({"cell": index, "code_cell": code_index,
                                 "error": f"{error.ename}: {error.evalue}".strip().rstrip(":"),
                                 "line": failing_line(str(error))})
                if not keep_going:
                    break
        if after is not None:
            after(client, nb)
    return failures


def describe_failure(failures: list[dict]) -> str:
    """``"pass"``, or ``"FAIL cell 59 (nbval Cell 32): assert …"`` for the first failure."""
    if not failures:
        return "pass"
    first = failures[0]
    where = (f"cell {first['cell']} (nbval Cell {first['code_cell']})"
             if first.get("cell") is not None else "run")
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"FAIL {where}: {first['line']}{more}"
