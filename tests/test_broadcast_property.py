"""Property: for any pair of broadcastable shapes, every binary op's input
gradients have the input's shape and equal the true ones (PyTorch's when it
is installed; central differences always)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tinycnn
from tinycnn import gradcheck

OPS = {
    "add": (lambda a, b: a + b, lambda T, a, b: a + b),
    "sub": (lambda a, b: a - b, lambda T, a, b: a - b),
    "mul": (lambda a, b: a * b, lambda T, a, b: a * b),
    "div": (lambda a, b: a / b, lambda T, a, b: a / b),
    "pow": (lambda a, b: a**b, lambda T, a, b: a**b),
    "maximum": (lambda a, b: tinycnn.maximum(a, b), lambda T, a, b: T.maximum(a, b)),
    "where": (lambda a, b: tinycnn.where(a > 1.0, a, b), lambda T, a, b: T.where(a > 1.0, a, b)),
}

shape_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=3)


def _inputs(shapes, seed):
    """Positive values (pow needs a > 0) with no ties between a and b (maximum)."""
    g = np.random.default_rng(seed)
    return [tinycnn.tensor(g.uniform(0.5, 1.5, s) + 0.01 * i, dtype=np.float64, requires_grad=True)
            for i, s in enumerate(shapes.input_shapes)]


@settings(max_examples=20, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), shapes=shape_pairs, seed=st.integers(0, 2**16))
def test_broadcast_gradients_have_input_shapes_and_match_numerical(op, shapes, seed):
    fn, _ = OPS[op]
    a, b = _inputs(shapes, seed)
    out = fn(a, b)
    assert out.shape == shapes.result_shape
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert gradcheck(fn, [a, b], mode="random", n_directions=2, seed=seed)


@pytest.mark.torch
@settings(max_examples=25, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), shapes=shape_pairs, seed=st.integers(0, 2**16))
def test_broadcast_gradients_match_torch(op, shapes, seed):
    torch = pytest.importorskip("torch")
    fn, torch_fn = OPS[op]
    a, b = _inputs(shapes, seed)
    ta, tb = (torch.tensor(x.numpy(), requires_grad=True) for x in (a, b))
    u = np.random.default_rng(seed).standard_normal(shapes.result_shape)
    fn(a, b).backward(u)
    torch_fn(torch, ta, tb).backward(torch.tensor(u))
    for x, t in ((a, ta), (b, tb)):
        assert x.grad.shape == tuple(t.grad.shape)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=2, max_dims=4, max_side=3),
       k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_batched_matmul_gradients_have_input_shapes(shapes, k, seed):
    """(..., M, K) @ (..., K, N) with broadcast batch dims."""
    sa, sb = shapes.input_shapes
    g = np.random.default_rng(seed)
    a = tinycnn.tensor(g.standard_normal(sa[:-1] + (k,)), requires_grad=True)
    b = tinycnn.tensor(g.standard_normal(sb[:-2] + (k, sb[-1])), requires_grad=True)
    out = a @ b
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert gradcheck(lambda a, b: a @ b, [a, b], mode="random", n_directions=2, seed=seed)
