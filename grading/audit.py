"""Read learners' code without running it: what an instructor should look at by hand, and which
answers merely re-export the course's own implementation of the exercise.

:func:`scan` lists, line by line, what a cell does that honest answers do not:

* ``course-import``: imports or uses the course's own code (``utils``, ``grading``);
* ``checker``: imports or uses the checkers (``utils.checks``);
* ``patch``: assigns to an attribute or item of a module, a dunder, a namespace (``setattr`` too);
* ``dynamic``: makes or loads code at run time (``exec``, ``eval``, ``compile``, ``importlib``,
  ``types.FunctionType``, ``marshal``/``pickle``/``codecs``/``base64``, ``sys.path``,
  ``sys.modules``, magics such as ``%run``);
* ``reflection``: looks into namespaces, frames and functions (``vars``, ``globals``,
  ``__globals__``, ``__dict__``, ``inspect``, ``sys._getframe``, ``f_back``, ``gc``, a
  ``getattr`` whose name is computed);
* ``file``: reads or writes files (``open``, ``pathlib``, ``shutil``, ``sqlite3``,
  ``py_compile``, a path to a ``.pyc``, a notebook or the gradebook, ``%%writefile``);
* ``process``: starts processes or threads or talks to the system (``subprocess``, ``os.system``,
  ``os.fork``, ``multiprocessing``, ``threading``, ``ctypes``, ``signal``, ``!cmd``);
* ``syntax``: the cell is not Python.

``tools/grading.py audit`` adds ``handed-in`` for files handed in beside the notebook.

It follows simple aliases within a cell, and from cell to cell when given the same ``aliases``
dict: ``import utils.attention as ua`` then ``ua.attend``; ``run = exec`` then ``run(src)``;
``m = importlib.import_module("utils." + "attention")`` then ``m.attend``; string constants joined
with ``+`` are read as the string they make. It reads code and cannot follow everything (a name
computed from data, say): that is why reflection and dynamic code are listed at all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

# For each exercise (checker name, as in utils.checks.submit.CHECKS), the course's names that *are*
# its answer: an answer that imports or calls one of them is the course's implementation, not the
# learner's. Every name is defined in utils/ (tests/test_audit.py checks it, so a renamed class
# cannot silently empty a rule). context_budget has no counterpart in utils/.
OWN_IMPLEMENTATION = {
    "masked_cross_entropy": {"sequence_loss"},
    "decode_loop": {"teacher_forced"},
    "position_error_rates": {"position_error_rates"},
    "additive_score": {"AdditiveScore"},
    "masked_softmax": {"masked_softmax", "_masked_softmax"},
    "attend": {"attend"},
    "soft_glimpse": {"soft_glimpse", "SoftAttention"},
    "hard_glimpse": {"hard_glimpse", "HardAttention"},
    "reinforce_surrogate": {"reinforce_loss"},
    "alignment_scores": {"AdditiveScore", "AdditiveAttention"},
    # masked_softmax is chapter 2's exercise, which chapter 4's text invites the learner to reuse;
    # attend does the whole exercise (mask, softmax and weighted sum) in one call
    "attend_source": {"attend"},
    "decoder_step": {"step"},
    "general_score": {"GeneralScore", "LuongAttention"},
    "luong_step": {"step"},
    "local_p": {"local_weights", "predict_position", "LuongAttention"},
    "causal_attention": {"scaled_dot_product_attention", "causal_mask"},
    "split_merge_heads": {"_split_heads", "_merge_heads"},
    "sinusoidal_encoding": {"sinusoidal_positional_encoding", "SinusoidalPositionalEncoding"},
    "decoder_masks": {"causal_mask", "padding_mask", "length_mask"},
    "cross_attention": {"scaled_dot_product_attention", "attend_kv"},
    "attend_with_cache": {"scaled_dot_product_attention", "attend_kv", "forward_cached"},
    "online_softmax_merge": {"online_softmax_merge"},
    # chapter 5's window_mask centred on t is the band's non-causal twin: most of the exercise
    "sliding_window_mask": {"sliding_window_mask", "_band", "window_mask", "_window_mask"},
    "linear_attention_step": {"linear_attention_step"},
}
PATCH_TARGETS = ("torch", "utils", "sys", "builtins", "numpy", "np", "F", "nn", "IPython", "os")


def _kinds(kind: str | None, *names: str) -> dict[str, str | None]:
    return dict.fromkeys(names, kind)


# What using a dotted name is. The longest matching prefix decides and None means harmless, so
# ``os.path.join`` and ``import os`` are quiet while ``os.system`` is not.
RULES: dict[str, str | None] = {
    **_kinds("course-import", "utils", "grading"),
    **_kinds("checker", "utils.checks"),
    **_kinds("dynamic", "builtins", "builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__",
             "builtins.breakpoint", "importlib", "imp", "runpy", "code", "codeop", "marshal", "pickle", "_pickle",
             "dill", "cloudpickle", "shelve", "copyreg", "codecs", "base64", "binascii", "zlib", "bz2", "lzma",
             "zipimport", "pkgutil", "types.FunctionType", "types.CodeType", "types.LambdaType", "types.ModuleType",
             "types.MethodType", "types.new_class", "sys.modules", "sys.path", "sys.meta_path", "sys.path_hooks",
             "sys.path_importer_cache", "IPython"),
    **_kinds("reflection", "builtins.vars", "builtins.globals", "builtins.locals", "builtins.getattr", "inspect",
             "gc", "traceback", "sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile",
             "sys.addaudithook", "threading.settrace", "threading.setprofile"),
    **_kinds("patch", "builtins.setattr", "builtins.delattr", "os.putenv", "unittest.mock"),
    **_kinds("file", "builtins.open", "io", "pathlib", "shutil", "sqlite3", "tempfile", "glob", "fileinput",
             "zipfile", "tarfile", "py_compile", "compileall", "mmap", "codecs.open", "torch.load", "torch.save",
             "numpy.load", "numpy.save", "numpy.savez", "numpy.fromfile", "numpy.loadtxt", "numpy.savetxt",
             *(f"os.{f}" for f in ("open", "fdopen", "remove", "unlink", "rename", "renames", "replace", "makedirs",
                                   "mkdir", "rmdir", "removedirs", "chmod", "chown", "link", "symlink", "truncate",
                                   "write", "utime", "listdir", "scandir", "walk", "chdir", "sendfile", "mkfifo"))),
    **_kinds("process", "subprocess", "multiprocessing", "threading", "_thread", "concurrent", "ctypes", "cffi",
             "signal", "pty", "atexit", "socket", "asyncio", "urllib", "http", "requests", "webbrowser",
             "torch.utils.cpp_extension", "torch.multiprocessing",
             *(f"os.{f}" for f in ("system", "popen", "fork", "forkpty", "kill", "killpg", "setsid", "_exit",
                                   "abort", "posix_spawn", "posix_spawnp", "register_at_fork", "startfile")),
             *(f"os.{p}{s}" for p in ("exec", "spawn") for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe"))),
    # harmless corners of the modules above
    **_kinds(None, "io.StringIO", "io.BytesIO", "IPython.display", "IPython.core.display"),
}
# Builtins that reach code, namespaces or files; a name the cell does not bind means the builtin.
BUILTIN_NAMES = {"exec", "eval", "compile", "__import__", "breakpoint", "open", "vars", "globals", "locals",
                 "getattr", "setattr", "delattr"}
# Names that mean a module even where the cell did not import it (an earlier cell did): the
# dangerous modules, and the setup cells' usual aliases. Names a learner would likely use for
# variables of their own (``code``, ``signal``, ``types``, ``io``) are left out.
MODULE_NAMES = {
    **{m: m for m in ("os", "sys", "torch", "numpy", "utils", "grading", "builtins", "importlib", "subprocess",
                      "inspect", "gc", "shutil", "pathlib", "pickle", "marshal", "ctypes", "sqlite3",
                      "multiprocessing", "threading", "runpy", "codecs", "base64", "py_compile", "compileall",
                      "tempfile", "atexit", "socket", "IPython")},
    "np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn", "__builtins__": "builtins",
    "get_ipython": "IPython.get_ipython",
}
# Attributes that look into functions, classes, modules and frames, whatever they are read from.
# Dunders not listed here (``__init__``, ``__name__``) are everyday Python; assigning to any
# dunder is a patch all the same.
INTROSPECTION = {"__globals__", "__dict__", "__code__", "__closure__", "__builtins__", "__subclasses__",
                 "__mro__", "__bases__", "__base__", "__class__", "__self__", "__func__", "__wrapped__",
                 "__getattribute__", "__setattr__", "__delattr__", "__import__", "__loader__", "__spec__",
                 "__defaults__", "__kwdefaults__", "__reduce__", "__reduce_ex__", "__module__", "__file__",
                 "__path__", "__cached__", "__bool__", "__eq__", "__call__", "f_globals", "f_locals", "f_back",
                 "f_builtins", "f_code", "f_trace", "gi_frame", "gi_code", "cr_frame", "ag_frame", "tb_frame",
                 "tb_next", "co_code", "co_consts", "co_names", "func_globals"}
# Methods that touch files, whatever object they are called on (``Path(...).write_text``).
FILE_METHODS = {"write_text", "write_bytes", "read_text", "read_bytes", "open", "unlink", "touch", "symlink_to",
                "hardlink_to", "rmdir", "mkdir", "iterdir", "rglob", "chmod", "lchmod", "link_to", "readlink"}
# String constants (after joining ``"ex" + "ec"``) that name what the rules above are about.
STRINGS = {**_kinds("dynamic", "exec", "eval", "compile", "__import__", "__builtins__", "builtins",
                    "import_module", "rot13", "rot_13", "rot-13", "base64", "base_64", "zlib_codec", "hex_codec",
                    "marshal", "pickle"),
           **_kinds("process", "system", "popen", "fork", "Popen", "spawn"),
           **_kinds("reflection", "__globals__", "__dict__", "__code__", "__closure__", "f_globals", "f_locals",
                    "f_back", "_getframe", "__subclasses__")}
FILE_WORDS = ("__pycache__", "gradebook", "nbgrader")
FILE_ENDINGS = (".py", ".pyc", ".ipynb", ".db", ".sqlite", ".so", ".pth")
COURSE_PATH = re.compile(r"(utils|grading)([./][\w./]*)?")   # a module or a path, not prose
# IPython magics (and ``!cmd``) by what they do; those not named (``%time``, ``%matplotlib``) are harmless.
MAGICS = {**_kinds("process", "system", "getoutput", "sx", "bash", "sh", "script", "perl", "ruby", "python",
                   "python2", "python3", "pypy", "alias", "env", "set_env", "pip", "conda", "mamba", "killbgscripts"),
          **_kinds("file", "writefile", "file", "save", "logstart", "pycat", "load", "loadpy", "cd", "store",
                   "notebook", "bookmark", "pushd", "popd"),
          **_kinds("dynamic", "run", "load_ext", "reload_ext", "autoreload", "aimport", "macro", "recall",
                   "rerun", "rep", "edit", "alias_magic")}
SHELL_BODIES = {magic for magic, kind in MAGICS.items() if kind == "process"}   # not Python inside


@dataclass
class Finding:
    cell: str       # the cell's grade id, or "cell N" for a cell the learner added or changed
    line: int
    kind: str       # course-import | checker | patch | dynamic | reflection | file | process | syntax | handed-in
    text: str


def _course_module(module: str | None) -> bool:
    return bool(module) and (module == "utils" or module.startswith(("utils.", "grading")))


def classify(dotted: str) -> str | None:
    """The kind of using ``dotted`` (``os.system`` -> ``process``); None where harmless."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in RULES:
            return RULES[key]
    return None


def _integer(node: ast.AST) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _integer(node.operand)
        return -value if value is not None else None
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _fold(node: ast.AST) -> str | None:
    """The string ``node`` always makes (``"at" + "tend"``, ``"".join([...])``, ``"cexe"[::-1]``), if any."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_fold(v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _fold(node.value)
        given = (node.slice.lower, node.slice.upper, node.slice.step)
        bounds = [None if b is None else _integer(b) for b in given]
        if text is None or any(b is not None and n is None for b, n in zip(given, bounds)) or bounds[2] == 0:
            return None
        return text[slice(*bounds)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep, parts = _fold(node.func.value), [_fold(e) for e in node.args[0].elts]
        return sep.join(parts) if sep is not None and all(p is not None for p in parts) else None
    return None


def _string_kind(text: str) -> str | None:
    if COURSE_PATH.fullmatch(text):
        return classify(text.replace("/", ".").removesuffix(".py"))
    if text in STRINGS:
        return STRINGS[text]
    if any(word in text for word in FILE_WORDS) or text.endswith(FILE_ENDINGS):
        return "file"
    return None


def _as_python(source: str) -> str:
    """``source`` with IPython's magics and ``!cmd`` turned into the calls the kernel makes of them
    (``get_ipython().system(...)``); line numbers are kept, a cell magic becomes its first line."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # the grader's environment has IPython; without it, plain Python is read
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read is reported as a syntax error
        return source


class _Names:
    """What the names of one piece of code stand for: dotted origins such as ``utils.attention``,
    ``builtins.exec`` or ``os``, from imports and simple assignments, else from the defaults above."""

    def __init__(self, tree: ast.AST, carried: dict[str, str] | None = None) -> None:
        self.carried = carried if carried is not None else {}
        self.aliases: dict[str, str] = {}
        self.imports: list[tuple[ast.stmt, str]] = []   # (import statement, full dotted name imported)
        bound: set[str] = set()
        assigns: list[tuple[ast.AST, ast.AST]] = []       # (target, value), in the order of the source
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports.append((node, a.name))
                    name = a.asname or a.name.split(".")[0]
                    self.aliases[name] = a.name if a.asname else name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = node.module if a.name == "*" else f"{node.module}.{a.name}"
                    self.imports.append((node, full))
                    if a.name != "*":
                        self.aliases[a.asname or a.name] = full
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    assigns.append((target, node.value))
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
        assigns.sort(key=lambda tv: (tv[0].lineno, tv[0].col_offset))
        self.bound = bound
        for _ in range(2):   # twice: a function may use a name that a later line binds
            for target, value in assigns:
                for name, val in self._pairs(target, value):
                    origin = self.origin(val)
                    if origin is not None:
                        self.aliases[name] = origin
        self.bound -= set(self.aliases)

    @staticmethod
    def _pairs(target: ast.AST, value: ast.AST) -> Iterator[tuple[str, ast.AST]]:
        if isinstance(target, ast.Name):
            yield target.id, value
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts):
                yield from _Names._pairs(t, v)

    def name(self, name: str) -> str | None:
        if name in self.aliases:
            return self.aliases[name]
        if name in self.bound:   # the cell's own variable, function or parameter
            return None
        if name in self.carried:
            return self.carried[name]
        if name in BUILTIN_NAMES:
            return f"builtins.{name}"
        return MODULE_NAMES.get(name)

    def origin(self, node: ast.AST) -> str | None:
        """The dotted name ``node`` stands for (``ua.attend`` -> ``utils.attention.attend``), if known."""
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            base = self.origin(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            base, key = self.origin(node.value), _fold(node.slice)
            if base is None or key is None:
                return None
            if base == "sys.modules":
                return key
            if base == "__main__.__dict__":
                return self.name(key)
            if base.endswith(".__dict__"):
                return f"{base.removesuffix('.__dict__')}.{key}"
            return f"builtins.{key}" if base == "builtins" else None
        if isinstance(node, ast.Call):
            func = self.origin(node.func)
            args = node.args
            if func in ("importlib.import_module", "importlib.__import__", "builtins.__import__") and args:
                module = _fold(args[0])
                if module and func.endswith("__import__") and not any(k.arg == "fromlist" for k in node.keywords) \
                        and len(args) < 4:
                    return module.split(".")[0]   # __import__("a.b") gives back the package a
                return module
            if func == "importlib.reload" and args:
                return self.origin(args[0])
            if func == "builtins.getattr" and len(args) >= 2:
                base, key = self.origin(args[0]), _fold(args[1])
                return f"{base}.{key}" if base and key else None
            if func == "builtins.vars":
                base = self.origin(args[0]) if args else "__main__"
                return f"{base}.__dict__" if base else None
            if func in ("builtins.globals", "builtins.locals"):
                return "__main__.__dict__"
            if func == "IPython.get_ipython":
                return "IPython.shell"
        return None


def _chain(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and what it is taken from: ``vars(m)["x"].y`` -> the attribute, the item, the call, ``vars``."""
    while True:
        yield node
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return


def _course_name(text: str) -> bool:
    return any(text in names for names in OWN_IMPLEMENTATION.values())


def _use_kind(origin: str) -> str | None:
    """The kind of using (not importing) ``origin``. The course's helpers (``pick_device()``,
    ``quiz("ch4")``) are everyday code once imported, and the import line is listed already; its
    implementations of the exercises and the grader's code are listed wherever they are used."""
    kind = classify(origin)
    if kind == "course-import" and not origin.startswith("grading") and not _course_name(origin.rsplit(".", 1)[-1]):
        return None
    return kind


def _findings(tree: ast.AST, names: _Names) -> list[tuple[int, str]]:
    """``(line, kind)`` for everything in ``tree`` worth a look."""
    found: list[tuple[int, str]] = []
    quiet: set[int] = set()   # nodes already explained (a magic's get_ipython(), a plain getattr)
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            quiet.add(id(node.value))   # a docstring
        elif isinstance(node, ast.Attribute):
            quiet.add(id(node.value))   # ``a.b.c`` is judged whole: ``utils.checks`` is a checker, not ``utils``

    def add(node: ast.AST, kind: str | None, offset: int = 0) -> None:
        if kind:
            found.append((getattr(node, "lineno", 1) + offset, kind))

    for stmt, full in names.imports:
        add(stmt, classify(full))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and names.origin(func.value) == "IPython.shell" and \
                    func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput"):
                found.extend(_magic(node, func.attr, names))
                quiet.update(id(n) for n in _chain(func))
                continue
            if names.origin(func) == "builtins.getattr" and len(node.args) >= 2:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str) and attr.value.isidentifier() \
                        and not attr.value.startswith("__") and not _course_name(attr.value) \
                        and attr.value not in STRINGS and names.origin(node.args[0]) is None:
                    quiet.add(id(func))   # getattr(self, "weight"): plain Python
            if isinstance(func, ast.Attribute) and func.attr in FILE_METHODS:
                add(node, "file")
        if isinstance(node, ast.Attribute) and node.attr in INTROSPECTION:
            add(node, "reflection")
        if id(node) in quiet:
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store) or \
                isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            origin = names.origin(node)
            if origin is not None:
                add(node, _use_kind(origin))
        if isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr)):
            text = _fold(node)
            if text is not None:
                add(node, _string_kind(text))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(_patches(t, names) for t in targets):
                add(node, "patch")
    return found


def _magic(node: ast.Call, method: str, names: _Names) -> list[tuple[int, str]]:
    """What a magic does (``%run``, ``!cmd``, ``%%writefile``), and what the Python it runs does
    (``%time exec(s)``, the body of ``%%capture``)."""
    magic = method if method in ("system", "getoutput") else (_fold(node.args[0]) if node.args else None)
    found = [(node.lineno, MAGICS[magic])] if magic in MAGICS else []
    if magic in SHELL_BODIES:
        return found
    code, offset = None, node.lineno - 1
    if method == "run_line_magic" and magic in ("time", "timeit", "prun", "capture", "debug") and len(node.args) == 2:
        code = _fold(node.args[1])
    elif method == "run_cell_magic" and len(node.args) == 3:
        code, offset = _fold(node.args[2]), node.lineno   # the body starts on the line after the magic
    if code is not None:
        try:
            tree = ast.parse(_as_python(code))
        except SyntaxError:   # a %%writefile of something else than Python
            return found
        found += [(line + offset, kind) for line, kind in _findings(tree, _Names(tree, names.carried))]
    return found


def _patches(target: ast.AST, names: _Names) -> bool:
    """Whether assigning to (or deleting) ``target`` changes something other than the cell's own
    variables: a module's attribute, a dunder, a namespace reached by reflection."""
    if isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
        return any(_patches(t, names) for t in getattr(target, "elts", [getattr(target, "value", None)]))
    if not isinstance(target, (ast.Attribute, ast.Subscript)):
        return False
    for node in _chain(target):
        if isinstance(node, ast.Attribute) and (node.attr.startswith("__") or node.attr in INTROSPECTION):
            return True
        if isinstance(node, ast.Call):   # vars(m)["x"] = ..., globals()["f"] = ...; not f(x)[0] = ...
            return names.origin(node.func) in ("builtins.vars", "builtins.globals", "builtins.locals",
                                               "builtins.getattr", "IPython.get_ipython")
        if isinstance(node, ast.Name):
            return node.id in PATCH_TARGETS or names.origin(node) is not None
    return False


def scan(source: str, cell: str, aliases: dict[str, str] | None = None) -> list[Finding]:
    """Everything in one cell's code that an instructor should review, one finding per line and kind.

    Args:
        source: the cell's code (IPython magics and ``!cmd`` are read as the calls they make).
        cell: the label the findings carry (a grade id, ``cell 7``, a file name).
        aliases: pass one dict for the scanned cells of a notebook, in order: a name an earlier
            cell bound (``import utils.attention as ua``, ``run = exec``) is then followed in the
            later ones.
    """
    try:
        tree = ast.parse(_as_python(source))
    except SyntaxError as exc:
        return [Finding(cell, exc.lineno or 0, "syntax", f"does not parse: {exc.msg}")]
    names = _Names(tree, aliases)
    found = _findings(tree, names)
    if aliases is not None:   # what this cell binds holds in the cells after it
        for name in names.bound:
            aliases.pop(name, None)
        aliases.update(names.aliases)
    lines = source.splitlines()
    unique = {}
    for line, kind in found:
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        unique.setdefault((line, kind), Finding(cell, line, kind, text))
    return sorted(unique.values(), key=lambda f: (f.line, f.kind))


def own_implementation_uses(source: str, exercise: str, answer_cell: bool = True) -> list[str]:
    """The lines of ``source`` that import the course's implementation of ``exercise`` (or
    anything from ``grading``), or use it through an alias (``import utils.attention as ua`` then
    ``ua.attend``, ``f = attend``, ``getattr(m, "attend")``); and, in the exercise's own answer cell,
    that call a method of that name on anything (``decoder.step``)."""
    names = OWN_IMPLEMENTATION.get(exercise, set())
    try:
        tree = ast.parse(_as_python(source))
    except SyntaxError:
        return []
    origins = _Names(tree)
    lines, hits = source.splitlines(), {}
    for node in ast.walk(tree):
        hit = False
        if isinstance(node, ast.ImportFrom) and _course_module(node.module):
            hit = any(a.name in names or a.name == "*" for a in node.names) or node.module.startswith("grading")
        elif isinstance(node, ast.Import):
            hit = any(a.name.startswith("grading") for a in node.names)
        elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
            origin = origins.origin(node)
            hit = bool(origin) and _course_module(origin) and not origin.startswith("utils.checks") \
                and origin.rsplit(".", 1)[-1] in names
        if not hit and answer_cell:
            if isinstance(node, ast.Attribute) and node.attr in names:
                hit = node.attr != "step" or isinstance(node.ctx, ast.Load)
            elif isinstance(node, ast.Call) and origins.origin(node.func) == "builtins.getattr" and len(node.args) >= 2:
                hit = _fold(node.args[1]) in names   # getattr(decoder, "st" + "ep")
            elif isinstance(node, ast.Subscript):
                hit = _fold(node.slice) in names     # vars(type(decoder))["step"]
        if hit and 0 < node.lineno <= len(lines):
            hits.setdefault(node.lineno, lines[node.lineno - 1].strip())
    return [hits[line] for line in sorted(hits)]
