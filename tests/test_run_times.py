"""One source for run times: the README's table, each chapter's first cell (solutions/ and
chapters/) and instructors.md quote the same figures, and `make bench` writes all of them."""

import shutil
from pathlib import Path

from tools import bench

ROOT = Path(__file__).resolve().parent.parent


def test_every_place_quotes_the_same_run_time_and_memory():
    stated = bench.stated_run_times()
    chapters = sorted(p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(stated) == chapters
    for name, places in stated.items():
        assert set(places) == {"README.md", f"solutions/{name}", f"chapters/{name}", "instructors.md"}, name
        assert None not in places.values(), f"{name}: no run time in {[w for w, v in places.items() if v is None]}"
        assert len(set(places.values())) == 1, f"{name}: {places}"


def test_bench_writes_the_figures_everywhere(tmp_path, monkeypatch):
    for folder in ("solutions", "chapters"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.png", "__pycache__"))
    for name in ("README.md", "instructors.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    rows = [{"name": name, "seconds": 12.4, "peak_mib": 321.2} for name in bench.stated_run_times()]
    bench.write_run_times(rows)
    for name, places in bench.stated_run_times().items():
        assert {where: v for where, v in places.items() if where != "README.md"} == {
            f"solutions/{name}": (12, 321), f"chapters/{name}": (12, 321), "instructors.md": (12, 321)}
