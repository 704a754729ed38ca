"""Counting the ops a model runs, through tinycnn's profiler hook (tinycnn.tensor.set_profiler)."""
from tinycnn.tensor import set_profiler


class OpCounter:
    """Counts the ops of each Function class run, forward (and backward, which it only passes on).
    >>> with OpCounter() as counter: model(x)
    >>> counter.ops["ReLU"]
    """

    def __init__(self):
        self.ops = {}

    def forward(self, fn, arrays, constants):
        self.ops[type(fn).__name__] = self.ops.get(type(fn).__name__, 0) + 1
        return fn.forward(*arrays, **constants)

    def backward(self, fn, grad):
        return fn.backward(grad)

    def __enter__(self):
        set_profiler(self)
        return self

    def __exit__(self, *exc):
        set_profiler(None)
