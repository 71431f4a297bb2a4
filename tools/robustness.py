"""`make robustness`: do the notebooks' claims hold under other model seeds?

Every solutions notebook is executed top to bottom, in a fresh kernel of its own, once for each
seed offset: the environment variable ``COURSE_SEED_OFFSET=k`` shifts every random choice the
notebook makes about its models (initialisation, batch order, sampling, dropout; see
``utils.device.model_seed``) while its data sets stay the same. Another seed is what another CPU
model, a GPU or another library version amounts to for a trained model, so a claim that fails here
would fail on some learner's machine. Outputs are not compared (they differ by design); every
``assert`` in the notebook still runs.

    python tools/robustness.py                     # every chapter, offsets 1 to 5
    python tools/robustness.py --only 04 --only 05 # chapters whose file name starts with 04 or 05
    python tools/robustness.py --offsets 1-10      # or a list: --offsets 3,7,11
    python tools/robustness.py --jobs 2            # notebooks run side by side (one thread each)
    python tools/robustness.py --json out.json     # also write every result
    python tools/robustness.py --capability default  # with another CPU's kernels (ATEN_CPU_CAPABILITY)
    python tools/robustness.py --from-json a.json b.json --write-readme   # report stored results

It prints a table, chapter × offset -> ``pass`` or the failing cell and its line, then the worst
value over the offsets of each asserted metric it knows how to read (``METRICS``), and exits
non-zero if any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.nbrun import describe_failure, run_cells

ROOT = Path(__file__).resolve().parent.parent


SOLUTIONS = ROOT / "solutions"
CELL_TIMEOUT = 600   # seconds one cell may run (the longest takes about 70 s on 2 cores)
RUN_TIMEOUT = 1200   # seconds one notebook may run, kernel start included
README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- robustness-table:start -->", "<!-- robustness-table:end -->"

# Metrics read from each notebook's kernel after its last cell (or after the cell that failed):
# name -> (expression, "min" or "max": which end of the spread is the worst, the threshold the
# notebook asserts, for the table). Expressions that cannot be evaluated give no value.
METRICS: dict[str, dict[str, tuple[str, str, str]]] = {
    "01": {
        "exact match, length 4": ("exact[4]", "min", ">= 0.8"),
        "largest exact match from length 16 on": ("max(exact[n] for n in report.lengths if n >= 16)", "max", "<= 0.1"),
        "GRU far-to-near gradient": ("far_to_near(trained['gru'])", "min", ">= 0.05"),
    },
    "03": {
        "soft: most steps to target": ("max(runs['soft', s]['history'].steps[-1] for s in SEEDS)", "max", "< 500"),
        "hard: most steps to target": ("max(runs['hard', s]['history'].steps[-1] for s in SEEDS)", "max", "< 600"),
        "soft: worst test exact match": ("min(results['soft', s]['exact_match'] for s in SEEDS)", "min", ">= 0.93"),
        "hard: worst test exact match": ("min(results['hard', s]['exact_match'] for s in SEEDS)", "min", ">= 0.90"),
        "soft at step 100 minus hard at step 100": ("min(soft_100) - max(hard_100)", "min", "> 0.1"),
        "dot score: test exact match": ("dot_result['exact_match']", "min", ">= 0.93"),
        "worst localisation": ("min(r['localisation'] for r in results.values())", "min", ">= 0.90"),
        "trained hard: mean largest α_i": ("c.weights.max(-1).values.mean()", "min", "> 0.95"),
        "baseline's variance ratio, untrained": ("ratios['untrained']", "min", "> 50"),
        "baseline's variance ratio, step 150": ("ratios['after 150 steps']", "min", "> 1"),
        "baseline's variance ratio, trained (high end)": ("ratios[trained]", "max", "< 1.5"),
        "baseline's variance ratio, trained (low end)": ("ratios[trained]", "min", "> 0.8"),
    },
    "04": {
        "untrained: largest gap to uniform": ("(weights[0, :8] - 1 / 8).abs().max()", "max", "< 0.03"),
        "dates: steps to 99.5% validation": ("history.steps[-1]", "max", "< 600"),
        "dates: test exact match": ("report.exact_match", "min", ">= 0.99"),
        "dates: alignment accuracy": ("accuracy['all']", "min", ">= 0.93"),
        "dates: beam-4 exact match": ("beam_em", "min", ">= 0.99"),
        "probes: greedy right (of 6)": ("sum(right.values())", "max", "< 6"),
    },
    "05": {
        "content scores: worst test exact match": (
            "min(results[s, 'global']['report'].exact_match for s in CONTENT)", "min", ">= 0.95"),
        "content scores: most steps to target": ("content_done", "max", "<= 340"),
        "location when the content scores are done": ("location_curve[content_done]", "max", "< 0.9"),
        "location: best validation score": ("max(location_curve.values())", "max", "< 0.98"),
        "Bahdanau: test exact match": ("bahdanau['report'].exact_match", "min", ">= 0.95"),
        "Bahdanau: steps to target": ("bahdanau['steps']", "max", "< 400"),
        "dates, local-m: test exact match": ("em_local_m", "max", "< 0.3"),
        "dates, local-p: position error / baseline": ("mae / mae_baseline", "max", "< 0.85"),
        "dates, local-p: right character in the window": ("in_window", "min", ">= 0.7"),
        "reversal: local-p minus local-m": (
            "rev['local-p']['report'].exact_match - rev['local-m']['report'].exact_match", "min", "> 0.2"),
        "reversal, local-p: position error": ("rev_mae", "max", "< 1.5"),
    },
    "06": {
        "sort, sinusoidal: exact match": ("sort_match", "min", ">= 0.98"),
        "sort, learned: exact match": ("learned_history.last_eval['exact_match']", "min", ">= 0.98"),
        "sentiment: accuracy": ("text_accuracy", "min", ">= 0.97"),
        "cue words' pooling weight": ("cue_weight", "min", ">= 0.4"),
    },
    "07": {
        "reversal, plain: best from length 20": ("max(em['plain GRU'][n] for n in cfg.test_lengths if n >= 20)", "max", "<= 0.05"),
        "reversal, Bahdanau: worst length": ("worst['Bahdanau']", "min", ">= 0.60"),
        "reversal, Bahdanau: mean over lengths": ("mean['Bahdanau']", "min", ">= 0.88"),
        "reversal, Transformer: worst length": ("worst['Transformer']", "min", ">= 0.85"),
        "reversal, Transformer: mean over lengths": ("mean['Transformer']", "min", ">= 0.97"),
        "gradient 30-39 back / last 5, Transformer": ("far_to_near(profiles['Transformer'])", "min", ">= 0.5"),
        "Bahdanau: steps within one of the copied symbol": ("within_one", "min", ">= 0.9"),
        "Transformer: best head on the copied symbol": ("max(on_target.values())", "min", ">= 0.8"),
        "dates, Bahdanau: argmax in the field": ("scores['Bahdanau']['argmax']", "min", ">= 0.9"),
        "dates, Bahdanau: weight on the field": ("scores['Bahdanau']['all']", "min", ">= 0.75"),
        "dates, Transformer: weakest head's weight on the field": ("min(head_shares)", "min", ">= 0.4"),
        "dates: Bahdanau's weight minus the best head's": ("scores['Bahdanau']['all'] - max(head_shares)", "min", "> 0"),
    },
    "08": {
        "GQA g = 4: worst length": ("worst['g = 4']", "min", ">= 0.7"),
        "GQA g = 1: worst length": ("worst['g = 1']", "min", ">= 0.7"),
        "GQA g = 4: mean over lengths": ("mean['g = 4']", "min", ">= 0.95"),
        "GQA g = 1: mean over lengths": ("mean['g = 1']", "min", ">= 0.95"),
        "sliding window: worst accuracy within reach": ("min(inside.values())", "min", ">= 0.9"),
        "sliding window: best accuracy beyond reach": ("max(beyond.values())", "max", "<= 0.3"),
        "linear attention: exact match, length 4": ("em_linear[4]", "min", ">= 0.8"),
        "linear attention: best from length 24": ("linear_from_24", "max", "<= 0.05"),
        "linear attention: best from length 16": ("max(em_linear[n] for n in cfg.test_lengths if n >= 16)", "max", "(not asserted)"),
        "softmax (g = 4) from length 24: worst": ("min(em['g = 4'][n] for n in cfg.test_lengths if n >= 24)", "min", "(not asserted)"),
        "time exponent": ("time_exponent", "min", "1.5 to 3.0"),
    },
}


def parse_offsets(text: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"3,7,11"`` -> [3, 7, 11]; both forms can be mixed."""
    offsets: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)-(\d+)", part)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise ValueError(f"empty range of offsets: {part!r}")
            offsets += range(first, last + 1)
        else:
            offsets.append(int(part))
    if not offsets:
        raise ValueError(f"no offsets in {text!r}")
    return offsets


def run_one(path: Path) -> dict:
    """Execute one notebook in a fresh kernel (this process is its parent), then read its metrics."""
    import nbformat

    metrics = METRICS.get(path.name[:2], {})
    result: dict = {"metrics": {}}

    def read_metrics(client, nb):
        result["seconds"] = time.perf_counter() - start
        if not metrics:
            return
        probe = nbformat.v4.new_code_cell(
            "import json as _json\n_values = {}\n"
            + "".join(f"try:\n    _values[{name!r}] = float({expr})\nexcept Exception:\n    pass\n"
                      for name, (expr, _, _) in metrics.items())
            + "print('METRICS' + _json.dumps(_values))")
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
        for output in probe.outputs:
            for line in output.get("text", "").splitlines():
                if line.startswith("METRICS"):
                    result["metrics"] = json.loads(line[len("METRICS"):])

    start = time.perf_counter()
    result["failures"] = run_cells(path, CELL_TIMEOUT, after=read_metrics,
                                   keep_going=os.environ.get("ROBUSTNESS_KEEP_GOING") == "1")
    return result


def measure(path: Path, offset: int, keep_going: bool = False, capability: str | None = None) -> dict:
    """Run one notebook under one offset in a subprocess; never raises for a failing notebook.

    A run that times out or breaks (rather than failing a cell) is tried once more: on a busy
    machine a kernel's reply is now and then lost and the client waits for it until its timeout.
    A second such failure is reported as it is. ``capability`` sets ``ATEN_CPU_CAPABILITY`` in
    the kernel: PyTorch's kernels of another CPU (e.g. ``"default"``, no vector instructions)."""
    result = measure_once(path, offset, keep_going, capability)
    if any(is_infrastructure(f) for f in result["failures"]):
        result = measure_once(path, offset, keep_going, capability)
        result["retried"] = True
    return result


def is_infrastructure(failure: dict) -> bool:
    """A failure of the machinery (timeout, broken run), not of the notebook's own code."""
    return failure.get("cell") is None or "Timeout" in failure.get("error", "")


def measure_once(path: Path, offset: int, keep_going: bool = False, capability: str | None = None) -> dict:
    """One run of one notebook under one offset, in a subprocess of its own."""
    env = dict(os.environ, COURSE_SEED_OFFSET=str(offset), COURSE_PROGRESS="0", PYTHONHASHSEED="0",
               ROBUSTNESS_KEEP_GOING="1" if keep_going else "0", ATTENTION_JUDGE="grading.judge:judge")
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    # A session of its own, so that a run that hangs is ended together with its kernel.
    child = subprocess.Popen([sys.executable, __file__, "--one", str(path)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return {"failures": [{"cell": None, "code_cell": None, "error": "timed out",
                              "line": f"no result after {RUN_TIMEOUT} s"}], "metrics": {},
                "seconds": float("nan"), "notebook": path.name, "offset": offset}
    out = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    lines = out.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = [line for line in (out.stderr + out.stdout).strip().splitlines()
                if line.strip() and "WARNING" not in line][-3:]
        result = {"failures": [{"cell": None, "code_cell": None, "error": "the run itself broke",
                                "line": " | ".join(tail) or f"exit code {out.returncode}"}],
                  "metrics": {}, "seconds": float("nan")}
    result.update(notebook=path.name, offset=offset)
    if capability:
        result["capability"] = capability
    return result


def describe(result: dict) -> str:
    return describe_failure(result["failures"])


def report(results: list[dict], offsets: list[int], compact: bool = False) -> str:
    """Markdown: chapter × offset -> pass or the failing cell (``compact``: one column listing
    only the failures), then the worst value of each metric in ``METRICS`` over the offsets."""
    names = sorted({r["notebook"] for r in results})
    by_key = {(r["notebook"], r["offset"]): r for r in results}
    if compact:
        lines = ["| chapter | seed offsets | passed | failures |", "| --- | --- | --- | --- |"]
    else:
        lines = ["| chapter | passed | " + " | ".join(f"offset {k}" for k in offsets) + " |",
                 "| --- | --- | " + " | ".join("---" for _ in offsets) + " |"]
    for name in names:
        row = [by_key[name, k] for k in offsets if (name, k) in by_key]
        passed = sum(not r["failures"] for r in row)
        if compact:
            ran = [k for k in offsets if (name, k) in by_key]
            span = f"{ran[0]}–{ran[-1]}" if ran == list(range(ran[0], ran[-1] + 1)) else ", ".join(map(str, ran))
            failures = "; ".join(f"offset {r['offset']}: {describe(r)}" for r in row if r["failures"]) or "none"
            lines.append(f"| {name[:2]} | {span} | {passed}/{len(row)} | {failures} |")
        else:
            lines.append(f"| {name[:2]} | {passed}/{len(row)} | "
                         + " | ".join(describe(by_key[name, k]) if (name, k) in by_key else "" for k in offsets) + " |")
    lines += ["", "| chapter | metric | asserted | worst | over offsets |", "| --- | --- | --- | --- | --- |"]
    for name in names:
        for metric, (_, worst, asserted) in METRICS.get(name[:2], {}).items():
            values = [(by_key[name, k]["metrics"][metric], k) for k in offsets
                      if (name, k) in by_key and metric in by_key[name, k]["metrics"]]
            if not values:
                continue
            value, at = (min if worst == "min" else max)(values)
            shown = (f"{value:.3g}" if re.search(r"ratio|steps to|error|\(of", metric) or abs(value) > 1
                     else f"{value:.1%}")
            lines.append(f"| {name[:2]} | {metric} | {asserted} | {shown} (offset {at}) | {len(values)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", default=None,
                        help="only notebooks whose name starts with this (repeatable)")
    parser.add_argument("--offsets", default="1-5", help="seed offsets: 1-5 (default), or 3,7,11")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run side by side (default 1)")
    parser.add_argument("--dir", type=Path, default=SOLUTIONS,
                        help="folder of notebooks (default: solutions/)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every cell after a failure too, and report every failing cell")
    parser.add_argument("--capability", default=None, metavar="NAME",
                        help="run the kernels with ATEN_CPU_CAPABILITY=NAME (default, avx2, avx512): "
                             "PyTorch's kernels of another CPU")
    parser.add_argument("--json", type=Path, default=None, help="also write every result to this file")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="FILE",
                        help="run nothing: report the results stored by earlier --json runs")
    parser.add_argument("--write-readme", action="store_true",
                        help="also put the (compact) table into README.md, between its robustness markers")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        offsets = parse_offsets(args.offsets)
    except ValueError as error:
        parser.error(str(error))

    if args.from_json:
        results = [r for f in args.from_json for r in json.loads(f.read_text())]
        if args.only:
            results = [r for r in results if any(r["notebook"].startswith(p) for p in args.only)]
        offsets = sorted({r["offset"] for r in results})
        return finish(results, offsets, args.write_readme)

    paths = sorted(args.dir.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.only)]
    if not paths:
        parser.error(f"no notebook in {args.dir} starts with {args.only}")
    jobs = [(path, k) for k in offsets for path in paths]
    print(f"{len(paths)} notebooks x offsets {offsets} = {len(jobs)} runs, {args.jobs} at a time", flush=True)

    def run(job):
        result = measure(*job, keep_going=args.keep_going, capability=args.capability)
        print(f"  {result['notebook']:<45} offset {result['offset']:>3}  {result['seconds']:6.1f} s  "
              f"{describe(result)}", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, jobs))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return finish(results, offsets, args.write_readme)


def finish(results: list[dict], offsets: list[int], write_readme: bool) -> int:
    """Print the report (and put it in the README if asked); 1 if any run failed."""
    print()
    print(report(results, offsets))
    if write_readme:
        readme = README
        content = readme.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
        if not pattern.search(content):
            raise SystemExit("README.md has no robustness-table markers")
        table = report(results, offsets, compact=True)
        readme.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{table}\n{TABLE_END}", content),
                          encoding="utf-8")
        print("\nREADME.md updated.")
    failed = [r for r in results if r["failures"]]
    if failed:
        print(f"\n{len(failed)} of {len(results)} runs failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
