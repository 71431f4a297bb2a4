"""What a computation costs, counted rather than timed.

A stopwatch answers for one machine on one run; these counts are the same on every machine.

- `longest_chain(output)`: how many operations of the autograd graph that produced `output` must run
  one after another, each waiting for the last (the graph's longest path). A recurrence over T steps
  records about T times its step's operations in a chain; a Transformer block records the same
  handful whatever T.
- `peak_memory(fn)`: the most bytes PyTorch's CPU allocator held at once while `fn()` ran, counted
  from its allocations and frees (chapter 8). Sizes, not a stopwatch: the same on every machine.
- `saved_for_backward(fn)`: the bytes of the tensors autograd keeps from `fn()`'s forward pass for
  its backward pass (chapter 8).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

import torch
from torch.autograd.graph import Node

__all__ = ["longest_chain", "peak_memory", "saved_for_backward"]


def longest_chain(output: torch.Tensor) -> int:
    """The number of operations on the longest path of `output`'s autograd graph.

    Each node of the graph is one recorded operation (a product, a softmax, a GRU cell's gates...); an
    operation can start only when the nodes it reads from have finished, so the longest path is the
    number of operations that run one after another, however many processors there are. Leaves (the
    parameters and inputs, `AccumulateGrad` nodes) are not operations and are not counted. A tensor
    with no graph (made under `torch.no_grad()`, or a leaf) has a chain of 0.

    The count depends on how the operations were recorded: PyTorch's GRU on the CPU records every
    time step, while the cuDNN GRU on a GPU is one fused node that loops inside. Count on CPU copies
    to see the recurrence's steps.
    """
    root = output.grad_fn
    if root is None:
        return 0
    depth: dict[Node, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:                                                  # depth-first, without recursion: a chain of
        node, children_done = stack.pop()                         # thousands of steps would overflow Python's stack
        if node in depth:
            continue
        children = [child for child, _ in node.next_functions if child is not None]
        if children_done:
            counted = type(node).__name__ != "AccumulateGrad"
            depth[node] = int(counted) + max((depth[child] for child in children), default=0)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if child not in depth)
    return depth[root]


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send the process's file descriptor 2 to /dev/null for a while: PyTorch's profiler writes a log
    line from C++ when it starts and stops, which Python's ``sys.stderr`` cannot catch and which a
    notebook would store with its timestamp."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def peak_memory(fn: Callable[[], object]) -> int:
    """The most bytes of CPU memory PyTorch's tensors held at once while ``fn()`` ran, above what they held before.

    ``fn`` runs once under :mod:`torch.profiler` with ``profile_memory=True``, which records every
    allocation and every free of PyTorch's CPU allocator, with its size and time: the scores, the
    weights, each temporary, and the scratch buffers that fused kernels allocate inside themselves
    (which no Python code sees). Summing them in time order gives the memory held at each moment;
    the peak is the largest sum. What ``fn`` returns counts while it lives (it is dropped at the end);
    tensors that existed before ``fn`` ran do not count, unless ``fn`` frees them (then the sum dips
    below zero and the peak may be 0).

    Not counted: memory that libraries allocate outside PyTorch (a BLAS's own workspace), Python
    objects, and GPU memory (on a GPU use ``torch.cuda.max_memory_allocated``). The allocations depend
    on the operations and shapes, and for a fused kernel on its number of threads: fix it
    (``torch.set_num_threads``) to get the same count on every run.

    Args:
        fn: a function of no arguments, e.g. ``lambda: attention(q, k, v)``.

    Returns:
        The peak, in bytes (an int ``>= 0``).

    Raises:
        TypeError: ``fn`` not callable.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    from torch._C._autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # one "[memory]" event per allocation (+bytes) or free (−bytes); kineto_results is the profiler's raw record
    changes = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == DeviceType.CPU)
    held = peak = 0
    for _, nbytes in changes:
        held += nbytes
        peak = max(peak, held)
    return peak


def saved_for_backward(fn: Callable[[], object]) -> int:
    """Bytes of the tensors autograd saves during ``fn()`` for the backward pass (each storage once).

    A forward pass that will be differentiated keeps what its backward needs: a product ``a @ b``
    keeps ``a`` and ``b``, a softmax keeps its output. For attention that is the ``(T, S)`` weights
    (and often the scores). :func:`torch.autograd.graph.saved_tensors_hooks` shows each saved tensor
    as it is saved; two tensors that share memory (views of one storage) count once. Inputs and
    parameters that an operation saves count too, as they must stay alive.

    Args:
        fn: a function of no arguments whose operations record a graph (inputs with ``requires_grad``).

    Returns:
        The bytes, an int ``>= 0`` (0 when nothing records a graph, e.g. under ``torch.no_grad()``).

    Raises:
        TypeError: ``fn`` not callable.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    storages: dict[tuple[str, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[str(t.device), storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())
