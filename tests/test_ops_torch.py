"""Every op of op_cases.CASES against PyTorch (the oracle), float64: the
forward values and the gradients of <u, op(inputs)> for a random u."""
import numpy as np
import pytest
from op_cases import CASES, tensors

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_and_backward_match_torch(case):
    torch = pytest.importorskip("torch")
    xs = tensors(case)
    ts = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in case.inputs]
    out, expected = case.fn(*xs), case.torch_fn(torch, *ts)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)

    u = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(u)
    expected.backward(torch.tensor(u))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.requires_grad:
            assert x.grad.shape == x.shape, f"input {i}"
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=case.torch_grad_rtol, atol=1e-12, err_msg=f"input {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_ops_match_torch_in_float32(dtype):
    """A small network-like chain in float32 stays float32 and agrees with torch."""
    torch = pytest.importorskip("torch")
    import tinycnn
    import tinycnn.nn.functional as F

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((8, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    target = rng.integers(0, 4, 8)
    xs = [tinycnn.tensor(a, dtype=dtype, requires_grad=True) for a in (x, w, b)]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
    loss = F.cross_entropy(F.silu(xs[0] @ xs[1] + xs[2]) * 2.0, target, label_smoothing=0.1)
    t_loss = torch.nn.functional.cross_entropy(torch.nn.functional.silu(ts[0] @ ts[1] + ts[2]) * 2.0,
                                               torch.tensor(target), label_smoothing=0.1)
    loss.backward(), t_loss.backward()
    assert loss.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=tol)
    for a, t in zip(xs, ts):
        assert a.grad.dtype == dtype
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
