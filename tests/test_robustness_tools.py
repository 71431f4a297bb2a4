"""tools/nbrun.py, tools/robustness.py and tools/bench.py on small notebooks made here: a failing
notebook gives a row that names its cell and line, never a crash."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import bench, robustness
from tools.nbrun import describe_failure, failing_line, run_cells

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow(seconds=70)   # runs small notebooks in kernels


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter 9 — A test notebook")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


# Passes with no offset, fails under any other: what a claim that held for one seed looks like.
SEED_SENSITIVE = ("from utils.device import model_seed\nseed = model_seed(0)",
                  "x = 1\nassert seed == 0, 'only seed 0 works'\ny = 2",
                  "z = 3")


def test_failing_line_is_the_assert_of_the_cell_frame():
    traceback = ("\x1b[0;31mAssertionError\x1b[0m Traceback (most recent call last)\n"
                 "Cell In[3], line 2\n      1 x = 1\n----> 2 assert offsets[0] >= 38\n\n"
                 "\x1b[0;31mAssertionError\x1b[0m: ")
    assert failing_line(traceback) == "assert offsets[0] >= 38"
    nested = ("Cell In[3], line 1\n----> 1 f()\n\nFile utils/x.py:9, in f()\n----> 9 raise ValueError('bad')\n"
              "ValueError: bad")
    assert failing_line(nested) == "f()"          # the notebook's own line, not the library's
    assert failing_line("") == "?"


def test_run_cells_stops_at_the_first_failure_or_keeps_going(tmp_path, monkeypatch):
    path = _notebook(tmp_path / "09_test.ipynb", *SEED_SENSITIVE, "assert z == 4")
    monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
    only = run_cells(path, timeout=60)
    assert [f["cell"] for f in only] == [4] and only[0]["code_cell"] == 3
    assert only[0]["line"] == "assert z == 4" and only[0]["error"].startswith("AssertionError")
    monkeypatch.setenv("COURSE_SEED_OFFSET", "1")
    first = run_cells(path, timeout=60)
    assert len(first) == 1 and first[0]["cell"] == 2 and "only seed 0 works" in first[0]["error"]
    every = run_cells(path, timeout=60, keep_going=True)
    assert [f["cell"] for f in every] == [2, 4]
    assert describe_failure(every) == "FAIL cell 2 (nbval Cell 1): assert seed == 0, 'only seed 0 works' (and 1 more)"
    assert describe_failure([]) == "pass"


def test_robustness_table_and_exit_code(tmp_path):
    _notebook(tmp_path / "08_fine.ipynb", "assert 1 + 1 == 2")
    _notebook(tmp_path / "09_fragile.ipynb", *SEED_SENSITIVE)
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "robustness.py"), "--dir", str(tmp_path),
                          "--offsets", "0,2", "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "| 08 | 2/2 | pass | pass |" in out.stdout
    assert ("| 09 | 1/2 | pass | FAIL cell 2 (nbval Cell 1): assert seed == 0, 'only seed 0 works' |"
            in out.stdout)
    assert "1 of 4 runs failed" in out.stdout
    results = json.loads((tmp_path / "r.json").read_text())
    assert {(r["notebook"], r["offset"], bool(r["failures"])) for r in results} == {
        ("08_fine.ipynb", 0, False), ("08_fine.ipynb", 2, False),
        ("09_fragile.ipynb", 0, False), ("09_fragile.ipynb", 2, True)}
    passing = subprocess.run([sys.executable, str(ROOT / "tools" / "robustness.py"), "--dir", str(tmp_path),
                              "--only", "08", "--offsets", "1-2"], capture_output=True, text=True, timeout=300)
    assert passing.returncode == 0 and "| 08 | 2/2 | pass | pass |" in passing.stdout


def test_offsets_are_parsed_and_checked():
    assert robustness.parse_offsets("1-3,7") == [1, 2, 3, 7]
    assert robustness.parse_offsets("5") == [5]
    for bad in ["", "3-1", "a"]:
        with pytest.raises(ValueError):
            robustness.parse_offsets(bad)


def test_every_metric_names_a_known_chapter_and_a_worst_end():
    chapters = {p.name[:2] for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")}
    assert set(robustness.METRICS) <= chapters
    for metrics in robustness.METRICS.values():
        for expression, worst, _ in metrics.values():
            compile(expression, "<metric>", "eval")
            assert worst in ("min", "max")


def test_bench_gives_a_failing_notebook_a_row_instead_of_crashing(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_SEED_OFFSET", "1")
    failing = bench.measure(_notebook(tmp_path / "09_fragile.ipynb", *SEED_SENSITIVE))
    monkeypatch.delenv("COURSE_SEED_OFFSET")
    fine = bench.measure(_notebook(tmp_path / "08_fine.ipynb", "assert True"))
    assert fine["failures"] == [] and fine["seconds"] > 0 and fine["peak_mib"] > 0
    assert failing["failures"][0]["cell"] == 2
    rows = bench.table([fine, failing]).splitlines()
    assert rows[2].startswith("| 8 | [A test notebook](chapters/08_fine.ipynb)") and " s | " in rows[2]
    assert "FAIL cell 2 (nbval Cell 1): assert seed == 0, 'only seed 0 works' (after" in rows[3]


def test_stored_results_are_reported_and_written_into_the_readme(tmp_path, monkeypatch, capsys):
    results = [
        {"notebook": "08_fine.ipynb", "offset": k, "failures": [], "seconds": 1.0, "metrics": {}}
        for k in (1, 2, 3)
    ] + [
        {"notebook": "09_fragile.ipynb", "offset": 1, "failures": [], "seconds": 1.0, "metrics": {}},
        {"notebook": "09_fragile.ipynb", "offset": 3, "seconds": 1.0, "metrics": {},
         "failures": [{"cell": 2, "code_cell": 1, "error": "AssertionError", "line": "assert ok"}]},
    ]
    stored = tmp_path / "results.json"
    stored.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- robustness-table:start -->\nold\n<!-- robustness-table:end -->\nafter\n")
    monkeypatch.setattr(robustness, "README", readme)
    monkeypatch.setattr(sys, "argv", ["robustness.py", "--from-json", str(stored), "--write-readme"])
    assert robustness.main() == 1                      # one stored run failed
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| 08 | 1–3 | 3/3 | none |" in text
    assert "| 09 | 1, 3 | 1/2 | offset 3: FAIL cell 2 (nbval Cell 1): assert ok |" in text
    assert "1 of 5 runs failed" in capsys.readouterr().out


def test_a_run_that_breaks_is_tried_once_more_but_a_failing_claim_is_not(monkeypatch):
    calls = []
    outcomes = {
        "hang": [{"cell": 5, "code_cell": 3, "error": "CellTimeoutError: A cell timed out", "line": "fit(...)"}],
        "broke": [{"cell": None, "code_cell": None, "error": "the run itself broke", "line": "exit code -9"}],
        "claim": [{"cell": 5, "code_cell": 3, "error": "AssertionError", "line": "assert em >= 0.9"}],
    }

    def fake(path, offset, keep_going=False, capability=None):
        calls.append(path)
        first = calls.count(path) == 1
        return {"failures": outcomes[path] if first else [], "metrics": {}, "seconds": 1.0}

    monkeypatch.setattr(robustness, "measure_once", fake)
    assert robustness.measure("hang", 1)["failures"] == [] and calls.count("hang") == 2
    assert robustness.measure("broke", 1).get("retried") and calls.count("broke") == 2
    claim = robustness.measure("claim", 1)
    assert claim["failures"] == outcomes["claim"] and calls.count("claim") == 1 and "retried" not in claim


def test_the_shell_channel_is_polled_so_a_late_reply_is_still_received():
    import asyncio
    from queue import Empty
    from types import SimpleNamespace

    from tools import nbrun

    waits = []

    async def get_msg(timeout=None):
        waits.append(timeout)
        if len(waits) < 3:
            raise Empty                 # as if the reply had not been seen yet
        return {"msg": "reply"}

    client = SimpleNamespace(kc=SimpleNamespace(shell_channel=SimpleNamespace(get_msg=get_msg)))
    nbrun.patient_shell(client)
    assert asyncio.run(client.kc.shell_channel.get_msg(timeout=600)) == {"msg": "reply"}
    assert len(waits) == 3 and all(w <= nbrun.POLL_S for w in waits)   # short polls, not one long wait

    async def never(timeout=None):
        raise Empty

    client.kc.shell_channel.get_msg = never
    nbrun.patient_shell(client)
    with pytest.raises(Empty):                                            # the overall timeout still holds
        asyncio.run(client.kc.shell_channel.get_msg(timeout=0.2))
