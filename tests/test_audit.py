"""The audit (grading/audit.py, ``tools/grade.py audit``) without nbgrader: every cheat the
instructors' red-team found to work (issue 27) is listed with the kind of thing it does, honest
code is not, files handed in beside a notebook are listed, and the table of the course's own
implementations names only what exists."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading.audit import own_implementation_uses as uses
from grading.audit import scan
from grading.references import ANSWERS, OWN_IMPLEMENTATION
from tests.test_grading import CHEATS_02, CHEATS_05, IMPORTS_02, MIXED_06
from tools.grade import audit
from tools.notebooks import solution_paths
from utils.checks.submit import CHECKS

ROOT = Path(__file__).resolve().parents[1]
WRONG = "\ndef attend(scores, value, mask=None):\n    return scores, value\n"

# What learners wrote, by the kind of finding each must produce at least once.
CHEATS = {
    "course-import": {
        "module alias": "import utils.attention as ua\n\ndef attend(scores, value, mask=None):\n"
                        "    return ua.attend(scores, value, mask)\n",
        "package alias": "from utils import attention as A\n\ndef masked_softmax(s, m=None):\n"
                         "    return A.masked_softmax(s, m)\n",
        "renamed function": "from utils.attention import attend\nf = attend\n\n"
                            "def attend_source(scores, annotations, src_lengths):\n    return f(scores, annotations)\n",
        "import_module of a joined string": "import importlib\nua = importlib.import_module('utils.' + 'attention')\n"
                                            "attend = ua.attend\n",
        "__import__ with fromlist": "attend = __import__('utils.attention', fromlist=['attend']).attend\n",
        "sys.modules": "import sys\nattend = sys.modules['utils.attention'].attend\n",
        **{f"test_grading {grade_id}": src for grade_id, src in IMPORTS_02.items()},
        "test_grading ex-general-score": CHEATS_05["ex-general-score"],
        "test_grading ex-local-p": CHEATS_05["ex-local-p"],
        "test_grading ex-split-merge-heads": MIXED_06["ex-split-merge-heads"],
    },
    "checker": {f"test_grading {grade_id}": src for grade_id, src in CHEATS_02.items() if "checks" in src},
    "patch": {
        "checker replaced": CHEATS_05["ex-luong-step"],
        "torch.isclose": "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)\n" + WRONG,
        "a verdict made truthy": "from utils.checks import core\ncore.CheckResult.__bool__ = lambda s: True\n",
        "setattr": "setattr(torch, 'all' + 'close', lambda *a, **k: True)\n" + WRONG,
        "the grader's recording": "submit.__globals__['record'] = lambda name, *fns: {}\n" + WRONG,
        "a namespace by reflection": "vars(torch)['allclose'] = lambda *a, **k: True\n",
    },
    "reflection": {
        "vars of a module": "def attend(scores, value, mask=None):\n    return vars(mod)['attend'](scores, value, mask)\n",
        "__globals__": "def masked_softmax(s, m=None):\n    return attention_heatmap.__globals__['masked_softmax'](s, m)\n",
        "a class's namespace": "def decoder_step(decoder, *args):\n    return vars(type(decoder))['step'](decoder, *args)\n",
        "inspect.getmodule": "import inspect\nattend = inspect.getmodule(attention_heatmap).attend\n",
        "inspect.currentframe": "import inspect\ncaller = inspect.currentframe().f_back.f_globals\n",
        "sys._getframe": "import sys\nnames = sys._getframe(1).f_globals\n",
        "f_back": "def grab(frame):\n    return frame.f_back.f_locals\n",
        "gc.get_objects": "import gc\nfns = [o for o in gc.get_objects() if getattr(o, '__name__', '') == 'attend']\n",
        "computed getattr": "def attend(scores, value, mask=None):\n    return getattr(obj, 'at' + 'tend')(scores, value, mask)\n",
        "getattr of a course name": "fn = getattr(decoder, 'step')\n",
    },
    "dynamic": {
        "exec renamed": "run = exec\nrun(src)\n",
        "exec from the builtins' namespace": "import builtins\nbuiltins.__dict__['ex' + 'ec'](src)\n",
        "__builtins__": "e = getattr(__builtins__, 'ex' + 'ec')\ne(src)\n",
        "compile": "code_object = compile(src, '<answer>', 'exec')\n",
        "eval": "masked_softmax = eval('lambda s, m=None: s.softmax(-1)')\n",
        "types.FunctionType": "import types\nattend = types.FunctionType(code_object, globals())\n",
        "marshal": "import marshal\nc = marshal.loads(blob)\n",
        "pickle": "import pickle\nattend = pickle.loads(blob)\n",
        "rot13": "import codecs\nsrc = codecs.decode('qrs nggraq(f, i, z=Abar): cnff', 'rot13')\n",
        "rot13 without codecs' name": "src = text.encode().decode('rot' + '13')\n",
        "base64 into exec": "import base64\nexec(base64.b64decode(blob))\n",
        "sys.path": "import sys\nsys.path.insert(0, '/tmp/mine')\n",
        "importlib.reload": "import importlib\nimportlib.reload(core)\n",
        "%run": "%run helper.py\n",
        "%time hides exec": "%time exec(src)\n",
    },
    "file": {
        "pathlib write_text": "import pathlib\npathlib.Path(where).write_text('masked_softmax = None')\n",
        "Path write_bytes": "Path(where).write_bytes(blob)\n",
        "Path open": "with Path(where).open('a') as f:\n    f.write(' ')\n",
        "open for writing": "with open(where, 'w') as f:\n    f.write(' ')\n",
        "copy out of the source notebook": "import json\ncells = json.load(open(where))['cells']\n",
        "shutil": "import shutil\nshutil.copy(mine, theirs)\n",
        "sqlite3": "import sqlite3\nsqlite3.connect(db).execute('PRAGMA user_version = 7')\n",
        "the gradebook by name": "db = course + '/gradebook.db'\n",
        "py_compile": "import py_compile\npy_compile.compile(mine, cfile=theirs)\n",
        "a .pyc by name": "target = folder + '/judge.cpython-311.pyc'\n",
        "%%writefile": "%%writefile helper.py\ndef attend(scores, value, mask=None):\n    return scores, value\n",
    },
    "process": {
        "os.system": "import os\nos.system('sleep 8 && touch lingered.txt &')\n",
        "os.popen": "import os\nos.popen('cat /etc/hostname').read()\n",
        "subprocess": "import subprocess\nsubprocess.Popen(['python3', '-c', 'pass'], start_new_session=True)\n",
        "subprocess renamed": "from subprocess import run as go\ngo(['true'])\n",
        "os.fork": "import os\nif os.fork() == 0:\n    pass\n",
        "multiprocessing": "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
        "a daemon thread": "import threading\nthreading.Thread(target=print, daemon=True).start()\n",
        "ctypes": "import ctypes\nlibc = ctypes.CDLL(None)\n",
        "a shell escape": "!sleep 8 && touch lingered.txt &\n",
        "%%bash": "%%bash\nsleep 8\n",
    },
}
CASES = [(kind, label, src) for kind, snippets in CHEATS.items() for label, src in snippets.items()]


def test_the_catalogue_is_large():
    assert len({src for _, _, src in CASES}) >= 25


@pytest.mark.parametrize("kind, label, source", CASES, ids=[f"{k}: {label}" for k, label, _ in CASES])
def test_every_cheat_is_flagged_with_its_kind(kind, label, source):
    findings = scan(source, "ex")
    assert kind in {f.kind for f in findings}, (label, findings)
    assert all(f.text == source.splitlines()[f.line - 1].strip() for f in findings if f.line)


def test_a_call_through_an_alias_is_flagged_on_its_own_line():
    lines = {(f.line, f.kind) for f in scan("run = exec\n\nrun(src)\n", "x")}
    assert (3, "dynamic") in lines
    lines = {(f.line, f.kind) for f in scan("import utils.attention as ua\nx = 1\ny = ua.attend(s, v)\n", "x")}
    assert (3, "course-import") in lines


def test_aliases_carry_from_cell_to_cell_when_asked():
    aliases: dict[str, str] = {}
    assert scan("import utils.attention as ua\nrun = exec\n", "cell 3", aliases)
    later = scan("def attend(s, v, m=None):\n    run('x = 1')\n    return ua.attend(s, v, m)\n", "ex-attend", aliases)
    assert {(f.line, f.kind) for f in later} == {(2, "dynamic"), (3, "course-import")}
    assert not scan("ua = 3\nprint(ua)\n", "cell 9", aliases) and "ua" not in aliases   # rebound: plain again


def test_the_existing_kinds_stay():
    kinds = {f.kind for f in scan("import sys\nsys.modules['torch'] = None\nimport builtins\n"
                                  "builtins.print = None\nfrom utils.checks import core\n"
                                  "core.CheckResult.__bool__ = lambda s: True\nfrom utils.attention import attend\n", "x")}
    assert {"patch", "checker", "course-import", "dynamic"} <= kinds
    assert [f.kind for f in scan("def f(:\n", "x")] == ["syntax"]


# Honest code that reads like a cheat to a careless rule, and must stay quiet.
HONEST = {
    "a parameter named like a module": "def f(code, signal, types):\n    return code + signal + types\n",
    "an everyday getattr": "w = getattr(layer, 'weight')\n",
    "writing into own tensors": "pe = torch.zeros(4, 2)\npe[:, 0::2] = torch.sin(x)\nself.w = w\n",
    "a docstring about files": 'def f():\n    """Reads nothing from gradebook.db or utils/attention.py."""\n    return 1\n',
    "prose that names the course": "print('utils.attention agrees with NumPy:', ok)\n",
    "time, matplotlib magics": "%matplotlib inline\n%time y = x @ x\n",
    "the course's helpers": "from utils.device import pick_device\ndevice = pick_device()\nmodel.to(device)\n",
    "super().__init__": "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n",
    "re.compile, model.eval": "import re\npattern = re.compile('a+')\nmodel.eval()\n",
    "os.path": "import os\nname = os.path.basename(p)\n",
}


@pytest.mark.parametrize("label", HONEST)
def test_honest_idioms_are_quiet(label):
    findings = [f for f in scan(HONEST[label], "x") if not f.text.startswith("from utils")]
    assert findings == []


def solution_cells(answers: bool):
    for path in solution_paths():
        for i, cell in enumerate(nbformat.read(str(path), as_version=4).cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("solution") if answers else not meta.get("locked") and not meta.get("solution")):
                yield path.name[:2], meta.get("grade_id") or f"cell {i}", cell.source


# What the unlocked non-answer cells of the solutions (the course's own demonstrations; the audit
# reads such a cell only where a learner changed it) are flagged for, besides the course's code
# (their imports of utils, and their uses of the course's versions of the exercises), when measured:
HONEST_OTHER = [("01", "reflection", 'print(f"{name}:\\n{getattr(batch, name)}")'),             # a computed name
                ("04", "dynamic", 'text, _ = format_date(__import__("datetime").date(2026, 11, 22), fmt)')]


def test_honest_solutions_are_quiet():
    answers = [(ch, f) for ch, label, src in solution_cells(answers=True) for f in scan(src, label)]
    assert answers == []   # every answer cell of every chapter
    others = sorted((ch, f.kind, f.text) for ch, label, src in solution_cells(answers=False)
                    for f in scan(src, label) if f.kind not in ("course-import", "checker"))
    assert len(others) <= len(HONEST_OTHER), others


def write_notebook(path: Path, answer: str, added: list[str] = ()) -> None:
    """A chapter-4-like notebook: a setup cell, the cells the learner ``added``, an answer, its check."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Chapter 4"),
        new_code_cell("import torch\nfrom utils.attention import masked_softmax\n"),
        *(new_code_cell(src) for src in added),
        new_code_cell(answer, metadata={"nbgrader": {"solution": True, "grade": False, "locked": False,
                                                     "grade_id": "ex-attend-source", "schema_version": 3}}),
        new_code_cell("from utils.checks.submit import submit\nsubmit('attend_source', attend_source)\n",
                      metadata={"nbgrader": {"solution": False, "grade": True, "locked": True, "points": 3,
                                             "grade_id": "test-attend-source", "schema_version": 3}}),
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


HONEST_ANSWER = ("def attend_source(scores, annotations, src_lengths):\n    S = scores.shape[1]\n"
                 "    mask = torch.arange(S) < src_lengths.unsqueeze(1)\n"
                 "    weights = torch.softmax(scores.masked_fill(~mask, float('-inf')), dim=-1)\n"
                 "    return (weights.unsqueeze(-1) * annotations).sum(1), weights\n")


def test_audit_lists_cheats_and_files_handed_in(tmp_path):
    write_notebook(tmp_path / "source" / "ch04" / "04_x.ipynb", HONEST_ANSWER)
    write_notebook(tmp_path / "submitted" / "honest" / "ch04" / "04_x.ipynb", HONEST_ANSWER)
    (tmp_path / "submitted" / "honest" / "ch04" / "timestamp.txt").write_text("2026-01-01 00:00:00")
    cheat = "import helper\n\ndef attend_source(scores, annotations, src_lengths):\n    return ua.attend(scores, annotations)\n"
    write_notebook(tmp_path / "submitted" / "alice" / "ch04" / "04_x.ipynb", cheat,
                   added=["import utils.attention as ua\n"])
    (tmp_path / "submitted" / "alice" / "ch04" / "helper.py").write_text("import os\nos.system('true')\n")
    (tmp_path / "submitted" / "alice" / "ch04" / "data" / "answers.json").parent.mkdir()
    (tmp_path / "submitted" / "alice" / "ch04" / "data" / "answers.json").write_text("{}")
    (tmp_path / "submitted" / "bob" / "ch04").mkdir(parents=True)
    (tmp_path / "submitted" / "bob" / "ch04" / "04_x.ipynb").write_text("{ not json")

    rows = audit(tmp_path, "ch04")
    assert not any(student == "honest" for student, _, _ in rows)
    alice = {(name, getattr(f, "cell", None), getattr(f, "kind", None)) for student, name, f in rows if student == "alice"}
    assert {("helper.py", "(file)", "handed-in"), ("data/answers.json", "(file)", "handed-in"),
            ("helper.py", "helper.py", "process"),                   # the handed-in module is read too
            ("04_x.ipynb", "cell 2", "course-import"),               # the learner's own cell
            ("04_x.ipynb", "ex-attend-source", "course-import"),     # ua, bound in an earlier cell, followed
            ("04_x.ipynb", "ex-attend-source", "handed-in"),         # import helper
            } <= alice, rows
    assert any(student == "bob" and "cannot be read" in str(f) for student, _, f in rows)


def test_own_implementation_uses_sees_aliases():
    assert uses("import utils.attention as ua\nf = ua.attend\n", "attend", answer_cell=False) == ["f = ua.attend"]
    assert uses("from utils import attention as A\ndef g(s, v):\n    return A.attend(s, v)\n", "attend_source",
                answer_cell=False) == ["return A.attend(s, v)"]
    assert uses("import importlib\nm = importlib.import_module('utils.' + 'attention')\nx = getattr(m, 'masked_softmax')\n",
                "masked_softmax", answer_cell=False) == ["x = getattr(m, 'masked_softmax')"]
    assert uses("from utils.attention import attend as a\n", "attend", answer_cell=False) == ["from utils.attention import attend as a"]
    assert uses("def decoder_step(decoder, *a):\n    return getattr(decoder, 'st' + 'ep')(*a)\n", "decoder_step") != []
    assert uses("def decoder_step(decoder, *a):\n    return vars(type(decoder))['step'](decoder, *a)\n", "decoder_step") != []
    assert uses("def decoder_step(decoder, *a):\n    return getattr(decoder, 'pets'[::-1])(*a)\n", "decoder_step") != []
    # unchanged: the answer cell's method calls, the other cells' plain code, honest answers
    assert uses("def decoder_step(decoder, *a):\n    return decoder.step(*a)\n", "decoder_step") != []
    assert uses("def decoder_step(decoder, *a):\n    return decoder.step(*a)\n", "decoder_step", answer_cell=False) == []
    assert uses("import utils.attention as ua\nprint(ua.dot_score)\n", "attend", answer_cell=False) == []
    for chapter, grade_id, source in solution_cells(answers=True):
        exercise = grade_id.removeprefix("ex-").replace("-", "_")
        assert uses(source, exercise) == [], (chapter, grade_id)


def test_every_name_in_the_own_implementation_table_exists_in_utils():
    code = "\n".join(p.read_text() for p in (ROOT / "utils").rglob("*.py") if "checks" not in p.parts)
    defined = set(re.findall(r"^\s*(?:def|class)\s+(\w+)", code, re.MULTILINE))
    missing = {(exercise, name) for exercise, names in OWN_IMPLEMENTATION.items() for name in names
               if name not in defined}
    assert not missing
    assert set(OWN_IMPLEMENTATION) <= set(CHECKS)


def test_every_exercise_the_course_implements_has_its_names_in_the_table():
    for exercise, answer in ANSWERS.items():
        for reference in answer.references.values():
            if reference.__module__.startswith("utils."):   # the reference *is* the course's function
                assert reference.__name__ in answer.own, exercise
