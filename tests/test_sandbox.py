"""grading/sandbox.py: what a learner's kernel sees when autograding (the slow end-to-end test with
nbgrader is in tests/test_grading.py); here the same bubblewrap command runs a short script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grading.sandbox import REPO, bwrap_command, kernelspec

pytestmark = pytest.mark.slow(seconds=10)
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (tools/install_sandbox.sh)")


def run_inside(course: Path, sockets: Path, cwd: Path, script: str) -> dict:
    command = bwrap_command(course, sockets / "kernel.json", cwd)
    command = command[:command.index("--") + 1] + [sys.executable, "-c", script]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@needs_bwrap
def test_the_kernel_sees_no_course_no_repository_and_writes_nothing_that_lasts(tmp_path):
    course, sockets = tmp_path / "course", tmp_path / "sockets"
    (course / "source" / "ch02").mkdir(parents=True)
    (course / "source" / "ch02" / "answers.ipynb").write_text("the instructors' solutions")
    (course / "gradebook.db").write_text("scores")
    work = course / "autograded" / "ada" / "ch02"
    work.mkdir(parents=True)
    (work / "helper.py").write_text("handed in beside the notebook")
    sockets.mkdir()
    library = (REPO / "utils" / "attention.py").read_bytes()
    script = f"""
import json, os, socket, sys
def can_write(path):
    try:
        with open(path, "a") as f:
            f.write("x")
        return True
    except OSError:
        return False
seen = {{
    "source": os.path.exists({str(course / "source")!r}),
    "gradebook": os.path.exists({str(course / "gradebook.db")!r}),
    "references": os.path.exists({str(REPO / "grading" / "references.py")!r}),
    "solutions": os.path.exists({str(REPO / "solutions")!r}),
    "helper": os.path.exists("helper.py"),
    "utils": os.path.exists({str(REPO / "utils" / "attention.py")!r}),
    "utils_writable": can_write({str(REPO / "utils" / "attention.py")!r}),
    "sockets_writable": can_write({str(sockets / "probe")!r}),
    "cwd": os.getcwd(),
}}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    seen["network"] = True
except OSError:
    seen["network"] = False
import utils.attention   # what a notebook imports still imports
print(json.dumps(seen))
"""
    seen = run_inside(course, sockets, work, script)
    assert seen == {"source": False, "gradebook": False, "references": False, "solutions": False, "helper": False,
                    "utils": True, "utils_writable": False, "sockets_writable": True, "cwd": str(work.resolve()),
                    "network": False}
    assert (course / "gradebook.db").read_text() == "scores"            # and outside, nothing changed
    assert (REPO / "utils" / "attention.py").read_bytes() == library


@needs_bwrap
def test_a_process_left_behind_ends_with_the_kernel(tmp_path):
    course, sockets = tmp_path / "course", tmp_path / "sockets"
    course.mkdir()
    sockets.mkdir()
    marker = sockets / "lingered"
    script = f"""
import json, subprocess
subprocess.Popen(["sh", "-c", "sleep 2; touch {marker}"], start_new_session=True)
print(json.dumps({{}}))
"""
    run_inside(course, sockets, course, script)
    subprocess.run(["sleep", "3"], check=True)
    assert not marker.exists()


def test_the_kernelspec_starts_the_sandbox_and_interrupts_by_message(tmp_path):
    spec = kernelspec(tmp_path)
    assert spec["argv"][1].endswith("grading/sandbox.py") and spec["argv"][-1] == "{connection_file}"
    assert spec["interrupt_mode"] == "message"
