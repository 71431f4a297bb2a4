"""Start a learner's kernel where its code can change nothing that grades: a bubblewrap sandbox.

``tools/grade.py prepare`` writes a kernelspec, ``course-sandbox``, whose command is this file:
nbgrader starts every submission's kernel through it. Inside, the learner's code sees

* the operating system, the virtual environment and the course's ``utils/`` package, read-only;
* nothing of the course directory (``source/`` with the instructors' solutions, ``gradebook.db``,
  the other learners' submissions and results) nor of the repository (``grading/`` with the
  references, ``solutions/``, ``.git``): empty, throw-away folders stand in their place;
* an empty, throw-away working folder (so files handed in beside the notebook cannot be imported),
  a throw-away ``/tmp`` and home, and the folder of its connection file (its only way out, through
  Unix sockets: the kernel talks to nbgrader over ``ipc``, not TCP);
* no network, no capabilities, its own process namespace: when the kernel ends, every process it
  started ends with it, detached or not.

Why bubblewrap (Debian's ``bubblewrap``): it needs no daemon and no root (it uses unprivileged user
namespaces), starts in milliseconds, and gives read-only views, hidden folders, no network and
process clean-up in one command. Another user account would keep the kernel from writing, but not
from reading ``source/`` or from leaving processes behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "course-sandbox"


def _inside(path: Path, others: list[Path]) -> bool:
    return any(path != other and path.is_relative_to(other) for other in others)


def bwrap_command(course: Path, connection_file: Path, cwd: Path, python: str = sys.executable) -> list[str]:
    """The bubblewrap command that runs ``python -m ipykernel_launcher -f connection_file``.

    Raises:
        FileNotFoundError: ``bwrap`` is not installed.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap, or grade "
                                "with --no-sandbox at your own risk (see instructors.md)")
    course, connection_file, cwd = course.resolve(), connection_file.resolve(), cwd.resolve()
    hidden = sorted({course, REPO}, key=lambda p: len(p.parts))
    hidden = [p for p in hidden if not _inside(p, hidden)]
    venv = Path(sys.prefix).resolve()
    command = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL",
               "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in hidden:
        command += ["--tmpfs", str(path)]
    for path in (REPO / "utils", venv):   # what the kernel imports, read-only again
        if _inside(path, hidden) or path in hidden:
            command += ["--ro-bind", str(path), str(path)]
    runtime = connection_file.parent
    command += ["--bind", str(runtime), str(runtime), "--dir", str(cwd), "--chdir", str(cwd),
                "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
                # ipykernel would watch for nbgrader's process id, which its own process namespace
                # cannot see, and quit at once; --die-with-parent does that watching instead
                "--unsetenv", "JPY_PARENT_PID",
                "--", python, "-m", "ipykernel_launcher", "-f", str(connection_file)]
    return command


def kernelspec(course: Path) -> dict:
    """The ``kernel.json`` of the sandboxed kernel for ``course``."""
    return {
        "argv": [sys.executable, str(Path(__file__).resolve()), str(course.resolve()), "{connection_file}"],
        "display_name": "Python 3 (sandboxed for grading)",
        "language": "python",
        "interrupt_mode": "message",   # a signal would reach bubblewrap, not the kernel
        "metadata": {"debugger": False},
    }


def main(argv: list[str]) -> None:
    """``sandbox.py COURSE CONNECTION_FILE``: exec bubblewrap around the kernel.

    The kernel must use the ``ipc`` transport with an absolute socket path (the configuration of
    tools/grade.py: ``KernelManager.ip`` in a fresh folder): a copy of the connection file goes
    into that folder, the only one the kernel may write to outside its throw-away ones."""
    course, connection_file = Path(argv[0]), Path(argv[1])
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(str(info.get("ip", ""))):
        raise SystemExit(f"the sandboxed kernel needs the ipc transport with an absolute path, got "
                         f"{info.get('transport')}:{info.get('ip')} (see tools/grade.py's configuration)")
    runtime = Path(info["ip"]).parent
    inside = runtime / connection_file.name
    if inside != connection_file:
        shutil.copyfile(connection_file, inside)
    command = bwrap_command(course, inside, Path.cwd())
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
