"""The code is linted and type-checked as configured in pyproject.toml: ruff ([tool.ruff]) and mypy
([tool.mypy], over utils/) must find nothing."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_finds_nothing():
    assert RUFF.exists(), f"ruff is not installed next to {sys.executable} (requirements.txt pins it)"
    result = subprocess.run([str(RUFF), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_would_fail_on_a_real_mistake(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    result = subprocess.run([str(RUFF), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "F401" in result.stdout and "F821" in result.stdout


def _mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_mypy_finds_nothing():
    """``mypy`` with no arguments, from the repository root: the files and settings of [tool.mypy]."""
    result = _mypy()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "no issues found" in result.stdout


def test_mypy_would_fail_on_a_real_type_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('def annotated() -> int:\n    return "not an int"\n\n\n'
                   'def unannotated():\n    n: int = "still not an int"\n    return n\n')
    result = _mypy("--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"), str(bad),
                   cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad.py:2: error" in result.stdout and "[return-value]" in result.stdout
    # the body of a function without annotations is checked too (check_untyped_defs)
    assert "bad.py:6: error" in result.stdout and "[assignment]" in result.stdout


def test_nothing_edits_sys_path():
    """utils/, grading/ and tools/ are installed together (pyproject.toml, `pip install -e .`): no
    module, tool or test finds another by editing sys.path (tests/test_audit.py only quotes it, as
    a cheat the audit must catch)."""
    import re

    edit = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend|remove)\b|\[[^\]]*\]\s*=|\s*[+]?=)")
    found = []
    for folder in ("utils", "grading", "tools", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "test_audit.py" or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if edit.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
    assert edit.search("sys.path.insert(0, '/tmp')") and edit.search("sys.path[:] = []")   # the pattern itself


def test_the_display_modules_read_in_one_sitting():
    """Issue 25: the explorers, the quizzes and the figures are split by chapter and concept, each
    module short enough to read at once (DESIGN.md: aim under 300 lines)."""
    utils = ROOT / "utils"
    paths = [*(utils / "widgets").glob("*.py"), *(utils / "quiz").glob("*.py"), *(utils / "plots").glob("*.py"),
             utils / "alt_text.py"]
    assert len(paths) >= 16, sorted(p.name for p in paths)
    long = {p.relative_to(ROOT).as_posix(): n for p in paths if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_no_module_of_utils_is_over_400_lines():
    """Issue 25: a module of utils/ reads in one sitting (400 lines at most; DESIGN.md aims under 300)."""
    long = {p.relative_to(ROOT).as_posix(): n for p in (ROOT / "utils").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_every_noqa_says_why():
    """Issue 25: a silenced rule carries its reason on the same line (`# noqa: CODE - why`)."""
    import re

    bare = re.compile(r"#\s*noqa(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?\s*$")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for folder in ("utils", "grading", "tools", "tests")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "noqa" in line and bare.search(line)]
    assert not found, found
    assert bare.search("x = 1  # noqa: E741") and not bare.search("x = 1  # noqa: E741 - the paper's name")


def test_no_import_cycle_between_modules_of_utils_grading_and_tools():
    """Issue 25: the import graph (top-level and function-level imports alike) has no cycle."""
    import ast
    from graphlib import CycleError, TopologicalSorter

    modules = {}
    for package in ("utils", "grading", "tools"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
    assert len(modules) > 50 and sum(map(len, graph.values())) > 100      # the graph was really read
