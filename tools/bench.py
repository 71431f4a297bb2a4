"""`make bench`: run time and peak memory of every chapter, then the speed tables.

Each notebook in solutions/ is executed in a fresh kernel, in a subprocess of its own, on the
CPU (COURSE_DEVICE=cpu). Run time is the wall-clock time from starting the kernel to the last
cell; peak memory is the kernel's maximum resident set size (ru_maxrss of the waited-for child).

    python tools/bench.py                   # print the table
    python tools/bench.py --write-readme    # also replace the table in README.md
    python tools/bench.py --only 02         # chapters whose file name starts with 02

A notebook that fails does not stop the bench: its row names the failing cell and line, the
other chapters are still measured, and the command exits non-zero at the end (as it does when a
chapter is over budget). The README's table is rewritten only when every chapter ran.

Budgets (DESIGN.md): 60 s and 2 GiB per chapter, 90 s for chapters that train several models.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from tools.nbrun import describe_failure, run_cells

ROOT = Path(__file__).resolve().parent.parent


TOPICS = {
    1: "encoder–decoder recap; the fixed-length bottleneck, vanishing gradients and sequential cost, measured",
    2: "queries, keys, values; dot, scaled dot, general and additive scores; √d_k; masking; a worked example",
    3: "attention over image regions; soft vs hard attention; REINFORCE with a baseline",
    4: "bidirectional encoder, additive attention, alignment maps, beam search",
    5: "dot/general/concat scores, input feeding, local-m and local-p attention",
    6: "self-attention, multi-head attention, positional encodings, a small Transformer encoder",
    7: "the decoder block, cross-attention, the KV cache; chapter 1's three flaws head to head (GRU, Bahdanau, Transformer)",
}
BUDGET_S = {1: 60, 2: 60, 3: 60, 4: 60, 5: 90, 6: 60, 7: 90, 8: 90}
BUDGET_MIB = 2048
TABLE_START, TABLE_END = "<!-- chapter-table:start -->", "<!-- chapter-table:end -->"


def title_of(path: Path) -> str:
    import nbformat

    return nbformat.read(str(path), as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()


def run_one(path: Path) -> dict:
    """Execute one notebook here (this process is the kernel's parent) and measure it."""
    start = time.perf_counter()
    failures = run_cells(path, timeout=600)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"name": path.name, "title": title_of(path), "seconds": wall, "peak_mib": peak_kib / 1024,
            "failures": failures}


def measure(path: Path) -> dict:
    """Measure one notebook in a subprocess of its own; a failing notebook gives a row, not a crash."""
    env = dict(os.environ, COURSE_DEVICE="cpu", COURSE_PROGRESS="0", ATTENTION_JUDGE="grading.judge:judge")
    out = subprocess.run([sys.executable, __file__, "--one", str(path)], env=env,
                         capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " | ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
        return {"name": path.name, "title": title_of(path), "seconds": float("nan"),
                "peak_mib": float("nan"), "failures": [{"cell": None, "line": tail or "no output"}]}


def table(rows: list[dict]) -> str:
    lines = ["| # | chapter | topics | run time | peak memory |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        n = int(r["name"][:2])
        title = r["title"].split("—", 1)[-1].strip()
        run_time = f"{r['seconds']:.0f} s"
        if r["failures"]:
            run_time = f"{describe_failure(r['failures'])} (after {r['seconds']:.0f} s)".replace("|", "\\|")
        lines.append(f"| {n} | [{title}](chapters/{r['name']}) | {TOPICS.get(n, '')} | "
                     f"{run_time} | {r['peak_mib']:.0f} MiB |")
    return "\n".join(lines)


HEADER_RE = re.compile(r"\*\*Run time:\*\* (\d+) s on 2 CPU cores in `make bench` \(peak memory (\d+) MiB\)")
INSTRUCTORS_RE = re.compile(r"^\*Run time: (\d+) s on 2 CPU cores in `make bench`, peak memory (\d+) MiB\.\*$", re.M)
README_ROW_RE = re.compile(r"^\| (\d+) \| \[.*\]\(chapters/(\S+)\) \|.*\| (\d+) s \| (\d+) MiB \|$", re.M)


def stated_run_times() -> dict[str, dict[str, tuple[int, int]]]:
    """Every place that quotes a chapter's run time and peak memory: ``{notebook: {where: (s, MiB)}}``
    for the README's table, the chapter's first cell (solutions/ and chapters/) and instructors.md."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for m in README_ROW_RE.finditer((ROOT / "README.md").read_text(encoding="utf-8")):
        found.setdefault(m.group(2), {})["README.md"] = (int(m.group(3)), int(m.group(4)))
    for folder in ("solutions", "chapters"):
        for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
            first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
            m = HEADER_RE.search(first)
            found.setdefault(path.name, {})[f"{folder}/{path.name}"] = (int(m.group(1)), int(m.group(2))) if m else None
    sections = re.split(r"^## Chapter (\d+) — ", (ROOT / "instructors.md").read_text(encoding="utf-8"), flags=re.M)
    names = {int(name[:2]): name for name in found}
    for number, body in zip(sections[1::2], sections[2::2]):
        m = INSTRUCTORS_RE.search(body.split("\n## ")[0])
        found.setdefault(names.get(int(number), number), {})["instructors.md"] = (int(m.group(1)), int(m.group(2))) if m else None
    return found


def write_run_times(rows: list[dict]) -> None:
    """Write each chapter's measured run time and peak memory into its first cell (solutions/ and
    chapters/, the same markdown in both) and under its heading in instructors.md."""
    figures = {r["name"]: (round(r["seconds"]), round(r["peak_mib"])) for r in rows}
    for name, (seconds, mib) in figures.items():
        for folder in ("solutions", "chapters"):
            path = ROOT / folder / name
            text = path.read_text(encoding="utf-8")
            nb = json.loads(text)
            first = "".join(nb["cells"][0]["source"])
            if not HEADER_RE.search(first):
                raise SystemExit(f"{folder}/{name}: its first cell has no '**Run time:** N s on 2 CPU cores in `make bench` "
                                 "(peak memory M MiB)'")
            first = HEADER_RE.sub(f"**Run time:** {seconds} s on 2 CPU cores in `make bench` (peak memory {mib} MiB)", first)
            nb["cells"][0]["source"] = first.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    guide = ROOT / "instructors.md"
    parts = re.split(r"(^## Chapter \d+ — .*$)", guide.read_text(encoding="utf-8"), flags=re.M)
    for i in range(1, len(parts), 2):
        number = int(re.match(r"## Chapter (\d+)", parts[i]).group(1))
        name = next((n for n in figures if int(n[:2]) == number), None)
        if name:
            seconds, mib = figures[name]
            parts[i + 1] = INSTRUCTORS_RE.sub(f"*Run time: {seconds} s on 2 CPU cores in `make bench`, peak memory {mib} MiB.*",
                                              parts[i + 1], count=1)
    guide.write_text("".join(parts), encoding="utf-8")


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text()
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(content):
        raise SystemExit("README.md has no chapter-table markers")
    readme.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{text}\n{TABLE_END}", content))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only", default=None, help="only notebooks whose name starts with this")
    parser.add_argument("--write-readme", action="store_true",
                        help="replace README.md's chapter table and the run times quoted in the chapters and instructors.md")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0

    paths = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    paths = [p for p in paths if args.only is None or p.name.startswith(args.only)]
    rows, over, failed = [], [], []
    print(f"{'notebook':<45} {'seconds':>8} {'peak MiB':>9}  budget", flush=True)
    for path in paths:
        r = measure(path)
        n = int(path.name[:2])
        if r["failures"]:
            failed.append(f"{path.name}: {describe_failure(r['failures'])}")
            verdict = describe_failure(r["failures"])
        else:
            ok = r["seconds"] <= BUDGET_S.get(n, 60) and r["peak_mib"] <= BUDGET_MIB
            if not ok:
                over.append(path.name)
            verdict = f"{'ok' if ok else 'OVER'} ({BUDGET_S.get(n, 60)} s, {BUDGET_MIB} MiB)"
        print(f"{path.name:<45} {r['seconds']:>8.1f} {r['peak_mib']:>9.0f}  {verdict}", flush=True)
        rows.append(r)
    print()
    print(table(rows))
    if args.write_readme and args.only is None and not failed:
        write_readme(table(rows))
        write_run_times(rows)
        print("\nREADME.md's table, the chapters' first cells and instructors.md updated.")
    extra = ROOT / "tools" / "bench_attention.py"
    speed_failed = False
    if extra.exists() and args.only is None:
        print()
        speed_failed = subprocess.run([sys.executable, str(extra)],
                                      env=dict(os.environ, COURSE_DEVICE="cpu")).returncode != 0
    if over:
        print(f"\nover budget: {', '.join(over)}")
    if failed:
        print("\nfailed (not measured to the end):\n  " + "\n  ".join(failed))
    if speed_failed:
        print("\nthe speed tables failed")
    return 1 if over or failed or speed_failed else 0


if __name__ == "__main__":
    sys.exit(main())
