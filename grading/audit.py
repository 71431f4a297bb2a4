"""Read learners' code without running it: what an instructor should look at by hand, and which
answers merely re-export the course's own implementation of the exercise."""

from __future__ import annotations

import ast
from dataclasses import dataclass

# For each exercise (checker name), the course's names that *are* its answer: an answer that
# imports or calls one of them is the course's implementation, not the learner's.
OWN_IMPLEMENTATION = {
    "masked_cross_entropy": {"sequence_loss"},
    "position_error_rates": {"position_error_rates"},
    "additive_score": {"AdditiveScore"},
    "masked_softmax": {"masked_softmax"},
    "attend": {"attend"},
    "soft_glimpse": {"soft_glimpse", "SoftAttention"},
    "hard_glimpse": {"hard_glimpse", "HardAttention"},
    "reinforce_surrogate": {"reinforce_loss"},
    "alignment_scores": {"AdditiveScore", "BahdanauAttention"},
    "decoder_step": {"step"},
    "general_score": {"GeneralScore", "LuongAttention"},
    "luong_step": {"step"},
    "local_p": {"local_weights", "predict_position", "LuongAttention"},
    "causal_attention": {"scaled_dot_product_attention", "causal_mask"},
    "split_merge_heads": {"split_heads", "merge_heads", "_split_heads", "_merge_heads"},
    "sinusoidal_encoding": {"sinusoidal_positional_encoding", "SinusoidalPositionalEncoding"},
    "decoder_masks": {"causal_mask", "padding_mask", "length_mask"},
    "cross_attention": {"scaled_dot_product_attention", "attend_kv"},
    "attend_with_cache": {"scaled_dot_product_attention", "attend_kv", "forward_cached"},
}
PATCH_TARGETS = ("torch", "utils", "sys", "builtins", "numpy", "np", "F", "nn", "IPython", "os")
DYNAMIC = {"__import__", "exec", "eval", "compile", "getattr", "setattr", "globals", "importlib",
           "__builtins__", "open"}


@dataclass
class Finding:
    cell: str       # the cell's grade id, or "cell N" for a cell the learner added or changed
    line: int
    kind: str       # course-import | checker | patch | dynamic
    text: str


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _course_module(module: str | None) -> bool:
    return bool(module) and (module == "utils" or module.startswith(("utils.", "grading")))


def scan(source: str, cell: str) -> list[Finding]:
    """Everything in one cell's code that an instructor should review."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Finding(cell, exc.lineno or 0, "syntax", f"does not parse: {exc.msg}")]
    found = []
    lines = source.splitlines()

    def add(node, kind):
        text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        found.append(Finding(cell, node.lineno, kind, text))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _course_module(node.module):
            add(node, "checker" if node.module.startswith("utils.checks") else "course-import")
        elif isinstance(node, ast.Import) and any(_course_module(a.name) for a in node.names):
            add(node, "checker" if any(a.name.startswith("utils.checks") for a in node.names) else "course-import")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)) and (
                        _root(t) in PATCH_TARGETS or isinstance(t, ast.Attribute) and t.attr.startswith("__")):
                    add(node, "patch")
                    break
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DYNAMIC:
            add(node, "dynamic")
        elif isinstance(node, ast.Name) and node.id in ("importlib", "__builtins__") or \
                isinstance(node, ast.Attribute) and node.attr in ("modules", "__code__", "__bool__") and _root(node) in ("sys", None, *PATCH_TARGETS):
            add(node, "dynamic")
    unique = {(f.line, f.kind): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.line, f.kind))


def own_implementation_uses(source: str, exercise: str, answer_cell: bool = True) -> list[str]:
    """The lines of ``source`` that import the course's implementation of ``exercise`` (or
    anything from ``grading``), and, in the exercise's own answer cell, that call it."""
    names = OWN_IMPLEMENTATION.get(exercise, set())
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines, hits = source.splitlines(), []
    for node in ast.walk(tree):
        hit = False
        if isinstance(node, ast.ImportFrom) and _course_module(node.module):
            hit = any(a.name in names or a.name == "*" for a in node.names) or node.module.startswith("grading")
        elif isinstance(node, ast.Import):
            hit = any(a.name.startswith("grading") for a in node.names)
        elif answer_cell and isinstance(node, ast.Attribute) and node.attr in names:
            hit = node.attr != "step" or isinstance(node.ctx, ast.Load)
        if hit:
            hits.append(lines[node.lineno - 1].strip())
    return hits
