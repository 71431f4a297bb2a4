"""Which cells of a notebook grading must run: the graded cells and what they need, nothing else.

A chapter's notebook trains models, evaluates them, draws figures and shows explorers; its graded
cells need none of that. They check functions the learner wrote, on inputs the checkers make
themselves. Running the whole notebook to grade three functions took 55 s per chapter-3 notebook
and 130 s per chapter-4 notebook. :func:`cells_to_run` reads every code cell without running it
(``ast``) and keeps

* every cell nbgrader grades or that holds an answer (``solution`` or ``grade`` in its metadata),
* every cell that defines a name one of the kept cells uses, and so on backwards (a helper the
  learner wrote in a cell of their own is kept when their answer calls it),
* every cell that cannot be read as Python (a magic, a syntax error): grading cannot tell what it
  does, so it runs it.

A cell that assigns to an attribute or an item of a name (``model.x = …``, ``table[k] = …``)
counts as defining that name. What a cell changes only through a method call (``x.append(…)``)
is not seen; that is the price of not running the cell, and none of the course's graded cells
depends on such a change (``tests/test_grading.py`` grades the instructors' solutions this way and
checks full marks).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Sequence

BUILTINS = frozenset(dir(builtins))
NOT_RUN = "(not run by the grader: no graded cell needs what this cell computes)\n"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def defined_and_used(source: str) -> tuple[set[str], set[str]] | None:
    """``(names the cell binds or changes, names it reads)``; None if it is not plain Python."""
    if source.lstrip().startswith(("%", "!")):
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            defined.update(node.names)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, (ast.Attribute, ast.Subscript)):
                        name = _root_name(part)
                        if name:
                            defined.add(name)  # x.attr = … or x[k] = … changes x
    return defined, used - BUILTINS


def cells_to_run(cells: Sequence[dict]) -> set[int]:
    """The indices of the code cells grading must run (see the module docstring)."""
    needed: set[str] = set()
    keep: set[int] = set()
    for index in range(len(cells) - 1, -1, -1):
        cell = cells[index]
        if cell.get("cell_type") != "code":
            continue
        meta = (cell.get("metadata", {}) or {}).get("nbgrader", {}) or {}
        names = defined_and_used(cell.get("source", ""))
        if names is None or meta.get("grade") or meta.get("solution") or names[0] & needed:
            keep.add(index)
            if names is not None:
                needed |= names[1]
    return keep
