"""utils.device: device choice, seeding and the CPU fingerprint."""

import os
import platform
import random
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from utils.device import cpu_fingerprint, describe_device, native_capability, other_capability, pick_device, seed_everything


def test_pick_device_prefers_cuda_then_mps_then_cpu(capsys):
    device = pick_device()
    if torch.cuda.is_available():
        assert device.type == "cuda"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        assert device.type == "mps"
    else:
        assert device.type == "cpu"
    assert capsys.readouterr().out.startswith("Using device: ")


def test_prefer_and_environment_variable(monkeypatch):
    assert pick_device("cpu", verbose=False) == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device(verbose=False) == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer must be one of"):
        pick_device("tpu", verbose=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no cuda device"):
            pick_device("cuda", verbose=False)


def test_describe_device():
    assert describe_device(torch.device("cpu")) == "cpu"


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first
    with pytest.raises(ValueError, match="seed must be an int"):
        seed_everything(1.5)


GENOA = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
"""


def test_cpu_fingerprint_names_vendor_family_model_and_vector_width():
    machine = platform.machine() or "unknown"
    assert cpu_fingerprint(GENOA) == f"{machine} AuthenticAMD family 25 model 17 avx512"  # first CPU only
    assert cpu_fingerprint(GENOA.replace(" avx512f avx512bw", "")).endswith("model 17 avx2")
    assert cpu_fingerprint(GENOA.replace(" avx avx2 avx512f avx512bw", "")).endswith("no-avx2")
    assert cpu_fingerprint(GENOA.replace("model\t\t: 17", "model\t\t: 1")) != cpu_fingerprint(GENOA)
    assert cpu_fingerprint("").startswith(machine)          # no /proc/cpuinfo: machine and processor
    assert cpu_fingerprint() == cpu_fingerprint()            # this machine, read twice


def test_training_digits_are_compared_only_on_the_cpu_that_made_them(monkeypatch, tmp_path):
    import conftest as root  # the repository's root conftest.py

    monkeypatch.delenv("COURSE_NBVAL_STRICT", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    here = tmp_path / "outputs_cpu.txt"
    monkeypatch.setattr(root, "OUTPUTS_CPU", here)
    here.write_text(cpu_fingerprint() + "\n")
    assert root.relaxed_reason() is None
    if other_capability():                                   # another CPU, emulated on this one
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", other_capability())
        assert "another CPU, emulated" in root.relaxed_reason()
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", native_capability().upper())  # this CPU's own: exact
        assert root.relaxed_reason() is None
        monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    here.write_text("x86_64 GenuineIntel family 6 model 85 avx512\n")
    assert "is not the kind that made the stored outputs" in root.relaxed_reason()
    monkeypatch.setenv("COURSE_NBVAL_STRICT", "1")
    assert root.relaxed_reason() is None
    monkeypatch.delenv("COURSE_NBVAL_STRICT")
    here.write_text(cpu_fingerprint())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert "CUDA" in root.relaxed_reason()


def test_only_training_cells_lose_their_comparison_and_only_where_relaxed(monkeypatch):
    import conftest as root

    def items():
        where = Path(__file__).parent.parent / "solutions" / "01_why_attention.ipynb"
        tagged = SimpleNamespace(cell={"metadata": {"tags": ["depends-on-training"]}}, options={"check": True}, fspath=where)
        plain = SimpleNamespace(cell={"metadata": {}}, options={"check": True}, fspath=where)
        unit_test = SimpleNamespace(name="test_something")          # not a notebook cell
        return tagged, plain, unit_test

    monkeypatch.setattr(root, "relaxed_reason", lambda name=None: "another CPU")
    tagged, plain, unit_test = items()
    root.relax_comparisons([tagged, plain, unit_test])
    assert tagged.options["check"] is False and plain.options["check"] is True
    assert not hasattr(unit_test, "options")

    monkeypatch.setattr(root, "relaxed_reason", lambda name=None: None)
    tagged, plain, unit_test = items()
    root.relax_comparisons([tagged, plain, unit_test])
    assert tagged.options["check"] is True and plain.options["check"] is True


def test_the_stored_outputs_name_the_cpu_that_made_them():
    import conftest as root

    x86 = r"\S+ \S+ family \d+ model \d+ (avx512|avx2|no-avx2)"
    default, per_file = root.recorded_cpus()
    for recorded in [default, *per_file.values()]:
        assert re.fullmatch(x86, recorded) or re.fullmatch(r"\S+ \S+", recorded), recorded
    for name in per_file:                                    # each names a notebook that exists
        assert (Path(__file__).parent.parent / name).exists(), name


def test_the_capability_another_cpu_would_use():
    assert native_capability(GENOA) == "avx512" and other_capability(GENOA) == "avx2"
    avx2 = GENOA.replace(" avx512f avx512bw", "")
    assert native_capability(avx2) == "avx2" and other_capability(avx2) == "default"
    plain = GENOA.replace(" avx avx2 avx512f avx512bw", "")
    assert native_capability(plain) == "default" and other_capability(plain) is None


def test_a_notebook_recorded_on_another_cpu_is_compared_there(monkeypatch, tmp_path):
    import conftest as root

    monkeypatch.delenv("COURSE_NBVAL_STRICT", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    here = tmp_path / "outputs_cpu.txt"
    monkeypatch.setattr(root, "OUTPUTS_CPU", here)
    here.write_text(f"x86_64 GenuineIntel family 6 model 85 avx512\nsolutions/07_x.ipynb: {cpu_fingerprint()}\n")
    assert root.recorded_cpus() == ("x86_64 GenuineIntel family 6 model 85 avx512",
                                    {"solutions/07_x.ipynb": cpu_fingerprint()})
    assert root.relaxed_reason("solutions/07_x.ipynb") is None            # recorded here: every digit compared
    assert "not the kind" in root.relaxed_reason("solutions/01_y.ipynb")   # the others: recorded elsewhere
    assert "not the kind" in root.relaxed_reason()


def test_the_learner_workbooks_run_under_their_own_seed_offset_and_other_kernels(monkeypatch):
    import conftest as root

    monkeypatch.delenv("COURSE_NBVAL_STRICT", raising=False)
    env = root.another_seed_env("chapters/04_bahdanau_decoder.ipynb")
    assert env["COURSE_SEED_OFFSET"] == "4"
    assert env.get("ATEN_CPU_CAPABILITY") == other_capability()
    assert root.another_seed_env("solutions/04_bahdanau_decoder.ipynb") is None
    assert root.another_seed_env(None) is None
    assert "another seed" in root.relaxed_reason("chapters/04_bahdanau_decoder.ipynb")
    monkeypatch.setenv("COURSE_NBVAL_STRICT", "1")                    # strict: the course's own seeds
    assert root.another_seed_env("chapters/04_bahdanau_decoder.ipynb") is None


def test_seed_cells_lose_their_comparison_only_in_the_run_under_another_seed(monkeypatch):
    import conftest as root

    monkeypatch.delenv("COURSE_NBVAL_STRICT", raising=False)
    monkeypatch.setattr(root, "relaxed_reason", lambda name=None: None)   # this CPU made the outputs
    repo = Path(__file__).parent.parent

    def seed_cell(folder):
        return SimpleNamespace(cell={"metadata": {"tags": ["depends-on-seed"]}}, options={"check": True},
                               fspath=repo / folder / "02_attention_as_weighted_average.ipynb")

    in_solutions, in_chapters = seed_cell("solutions"), seed_cell("chapters")
    root.relax_comparisons([in_solutions, in_chapters])
    assert in_solutions.options["check"] is True and in_chapters.options["check"] is False


def test_a_workbook_kernel_starts_with_the_offset_and_the_test_process_keeps_its_own(monkeypatch):
    import conftest as root

    monkeypatch.delenv("COURSE_NBVAL_STRICT", raising=False)
    monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
    repo = Path(__file__).parent.parent
    item = SimpleNamespace(cell={"metadata": {}}, fspath=repo / "chapters" / "06_self_attention.ipynb")
    wrapper = root.pytest_runtest_setup(item)
    next(wrapper)                                   # where nbval starts the kernel
    assert os.environ["COURSE_SEED_OFFSET"] == "6"
    with pytest.raises(StopIteration):
        next(wrapper)
    assert "COURSE_SEED_OFFSET" not in os.environ
    plain = SimpleNamespace(cell={"metadata": {}}, fspath=repo / "solutions" / "06_self_attention.ipynb")
    wrapper = root.pytest_runtest_setup(plain)
    next(wrapper)
    assert "COURSE_SEED_OFFSET" not in os.environ
