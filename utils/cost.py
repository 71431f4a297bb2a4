"""What a computation costs, counted rather than timed.

A stopwatch answers for one machine on one run; these counts are the same on every machine.

- `longest_chain(output)`: how many operations of the autograd graph that produced `output` must run
  one after another, each waiting for the last (the graph's longest path). A recurrence over T steps
  records about T times its step's operations in a chain; a Transformer block records the same
  handful whatever T.
"""

from __future__ import annotations

import torch
from torch.autograd.graph import Node

__all__ = ["longest_chain"]


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
