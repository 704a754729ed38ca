"""The Tensor and the autograd engine: graph recording, accumulation,
freeing, deep graphs, dtypes, and the errors for bad input."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import Function, Tensor


def t64(*values, requires_grad=True):
    return tinycnn.tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------- basics


def test_tensor_basics():
    x = tinycnn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.dtype == np.float32 and x.shape == (2, 2) and x.ndim == 2 and x.numel() == 4
    assert tinycnn.tensor([1, 2]).dtype == np.int64
    assert tinycnn.tensor(np.zeros(3)).dtype == np.float64  # NumPy arrays keep their dtype
    assert x.sum().item() == 10.0 and float(x[1, 1]) == 4.0
    assert isinstance(x.numpy(), np.ndarray) and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ValueError, match="one element"):
        x.item()
    with pytest.raises(TypeError, match="numeric"):
        Tensor(["a", "b"])


def test_tensor_copies_and_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    copied, shared = tinycnn.tensor(a), tinycnn.from_numpy(a)
    a[0] = 1.0
    assert copied.numpy()[0] == 0.0 and shared.numpy()[0] == 1.0


def test_factories():
    assert tinycnn.zeros(2, 3).shape == (2, 3) and tinycnn.ones((4,)).dtype == np.float32
    assert tinycnn.full(3, 7.0).tolist() == [7.0, 7.0, 7.0]
    assert tinycnn.arange(3).dtype == np.int64 and tinycnn.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert tinycnn.randn(2, 2, dtype=np.float64).dtype == np.float64
    r = tinycnn.randint(0, 5, (100,)).numpy()
    assert r.dtype == np.int64 and r.min() >= 0 and r.max() < 5


def test_manual_seed_repeats_random_tensors():
    tinycnn.manual_seed(3)
    a = tinycnn.randn(4).numpy()
    tinycnn.manual_seed(3)
    assert np.array_equal(a, tinycnn.randn(4).numpy())


# ---------------------------------------------------------------- graph recording


def test_requires_grad_propagates_like_pytorch():
    x, c = t64(1.0, 2.0), t64(3.0, 4.0, requires_grad=False)
    assert (x * c).requires_grad and not (c * c).requires_grad
    assert not (c + 1).requires_grad and (x + 1).requires_grad
    assert x.is_leaf and not (x * c).is_leaf
    assert not x.detach().requires_grad and x.detach().numpy() is x.numpy()


def test_no_grad_records_nothing_and_restores():
    x = t64(1.0, 2.0)
    with tinycnn.no_grad():
        y = x * 2
        with tinycnn.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and tinycnn.is_grad_enabled()

    @tinycnn.no_grad()
    def f(a):
        return a * 2

    assert not f(x).requires_grad and tinycnn.is_grad_enabled()


def test_backward_simple_chain_and_intermediate_grads_are_not_kept():
    x = t64(1.0, 2.0, 3.0)
    h = x * x
    y = (h * 3.0).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())
    assert h.grad is None  # only leaves get .grad, as in PyTorch


def test_shared_subexpression_gradients_add_up():
    x = t64(0.5, -1.5)
    h = x.exp()
    y = (h * h + h).sum()  # d/dx = 2 e^2x + e^x
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * x.numpy()) + np.exp(x.numpy()))


def test_gradients_accumulate_until_zero_grad():
    x = t64(1.0, 2.0)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy())
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_backward_with_explicit_grad():
    x = t64(1.0, 2.0, 3.0)
    (x * 2.0).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -2.0])


def test_chain_of_10000_ops_backward_is_iterative():
    x = t64(0.5)
    y = x
    for _ in range(10000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10000, rtol=1e-9)


def test_graph_is_freed_after_backward_and_retain_graph_keeps_it():
    x = t64(1.0, 2.0)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())
    with pytest.raises(RuntimeError, match="freed.*retain_graph=True"):
        y.backward()


def test_second_backward_through_a_freed_shared_subgraph_raises():
    x = t64(1.0, 2.0)
    h = x.exp()
    a, b = h.sum(), (h * 2.0).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="freed"):
        b.backward()


def test_backward_errors():
    x = t64(1.0, 2.0)
    with pytest.raises(RuntimeError, match="single-element.*shape \\(2,\\)"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="grad has shape \\(3,\\), expected \\(2,\\)"):
        (x * 2.0).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        t64(1.0, requires_grad=False).sum().backward()


def test_function_with_wrong_backward_is_reported():
    class BadShape(Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad.ravel()[:1]

    class BadCount(Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return grad, grad

    x = tinycnn.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="BadShape.backward returned a gradient of shape \\(1,\\)"):
        BadShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="BadCount.backward returned 2 gradients for 1 inputs"):
        BadCount.apply(x).sum().backward()


# ---------------------------------------------------------------- dtypes


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tinycnn.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        tinycnn.tensor([1, 2]).requires_grad_()


@pytest.mark.parametrize("scalar", [2.0, 2, np.float64(2.0), np.int64(2), np.float32(2.0)])
def test_float32_with_python_or_numpy_scalar_stays_float32(scalar):
    x = tinycnn.randn(3, requires_grad=True)
    results = [x + scalar, scalar + x, x - scalar, scalar - x, x * scalar, scalar * x, x / scalar,
               scalar / x.abs(), x.abs() ** scalar, tinycnn.maximum(x, scalar),
               tinycnn.clip(x, -scalar, scalar), tinycnn.where(x > 0, x, scalar)]
    assert all(r.dtype == np.float32 for r in results)
    sum(r.sum() for r in results).backward()
    assert x.grad.dtype == np.float32


def test_float32_network_pieces_stay_float32():
    x = tinycnn.randn(4, 3, requires_grad=True)
    for y in [F.relu(x), F.relu6(x), F.leaky_relu(x), F.leaky_relu(x, np.float64(0.2)), F.silu(x), F.sigmoid(x),
              F.tanh(x), F.hardswish(x), F.hardsigmoid(x), F.softmax(x, 1), F.log_softmax(x, 1), x.var(0), x.mean(), x.amax(1),
              F.cross_entropy(x, np.array([0, 1, 2, 0]), label_smoothing=0.1), F.mse_loss(x, x.detach() * 0.5),
              F.pad(x, (1, 1), mode="reflect"), x.abs().sqrt(), x.exp().log()]:
        assert y.dtype == np.float32


def test_float32_grad_stays_float32_when_mixed_with_float64_constants():
    x = tinycnn.randn(3, requires_grad=True)
    (x * np.ones(3)).sum().backward()  # the product is float64, x.grad must stay float32
    assert x.grad.dtype == np.float32


def test_dtype_casts_are_differentiable():
    x = tinycnn.randn(3, requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.float().dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32 and np.allclose(x.grad.numpy(), 2)


def test_loss_target_dtype_errors():
    x = tinycnn.randn(2, 3, requires_grad=True)
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices, got dtype float"):
        F.cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="nll_loss: target must hold integer"):
        F.nll_loss(x, tinycnn.tensor([0.0, 1.0]))
    with pytest.raises(IndexError, match="target values must lie in \\[0, 2\\]"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="expected target of shape \\(2,\\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="mse_loss: input shape \\(2, 3\\) and target shape \\(3,\\)"):
        F.mse_loss(x, np.zeros(3))


# ---------------------------------------------------------------- shape errors


def test_matmul_shape_errors_name_the_shapes():
    a = tinycnn.randn(2, 3)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not match"):
        a @ tinycnn.randn(4, 5)
    with pytest.raises(ValueError, match=r"matmul: batch dims \(2,\) and \(3,\)"):
        tinycnn.randn(2, 4, 3) @ tinycnn.randn(3, 3, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        a @ tinycnn.tensor(2.0)


def test_broadcasting_errors_name_the_op_and_shapes():
    a = tinycnn.randn(2, 3)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        a + tinycnn.randn(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        a * np.ones(2)
    with pytest.raises(ValueError, match="maximum"):
        tinycnn.maximum(a, tinycnn.randn(3, 2))
    with pytest.raises(ValueError, match="where"):
        tinycnn.where(np.ones(4, dtype=bool), a, 0.0)
    with pytest.raises(TypeError, match="where: condition must be boolean"):
        tinycnn.where(np.ones(3), a, 0.0)


def test_shape_op_errors():
    a = tinycnn.randn(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(IndexError, match="cat: dim 2 is out of range"):
        tinycnn.cat([a, a], dim=2)
    with pytest.raises(ValueError, match="cat: shapes must match except in dim 0"):
        tinycnn.cat([a, tinycnn.randn(2, 4)])
    with pytest.raises(ValueError, match="stack: all tensors need the same shape"):
        tinycnn.stack([a, tinycnn.randn(3, 2)])
    with pytest.raises(ValueError, match="permute"):
        a.permute(0, 0)
    with pytest.raises(IndexError, match="sum: dim 2 is out of range"):
        a.sum(2)
    with pytest.raises(ValueError, match="expand"):
        a.expand(2, 4)
    with pytest.raises(ValueError, match="pad: reflect padding"):
        F.pad(a, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: mode"):
        F.pad(a, (1, 0), mode="mirror")


# ---------------------------------------------------------------- op semantics


def test_max_with_dim_returns_values_and_indices_like_torch():
    x = tinycnn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    values, indices = x.max(1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max(dim=0, keepdim=True).values.shape == (1, 3)
    assert x.max().item() == 7.0 and x.amax((0, 1)).item() == 7.0


def test_max_tie_gradients_follow_torch():
    x = tinycnn.tensor([[3.0, 3.0, 1.0]], dtype=np.float64, requires_grad=True)
    x.max().backward()  # full reduction: shared evenly between the ties
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5, 0.0]])
    x.zero_grad()
    x.max(1).values.sum().backward()  # along a dim: to the returned index
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 0.0, 0.0]])


def test_repeated_indices_accumulate():
    x = tinycnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_var_conventions():
    x = tinycnn.tensor([1.0, 2.0, 4.0], dtype=np.float64)
    np.testing.assert_allclose(x.var().item(), np.var([1, 2, 4], ddof=1))
    np.testing.assert_allclose(x.var(unbiased=False).item(), np.var([1, 2, 4]))
    np.testing.assert_allclose(x.var(0, correction=0).item(), np.var([1, 2, 4]))


def test_squeeze_unsqueeze_expand_shapes():
    x = tinycnn.randn(2, 1, 3)
    assert x.squeeze().shape == (2, 3) and x.squeeze(1).shape == (2, 3) and x.squeeze(0).shape == (2, 1, 3)
    assert x.unsqueeze(-1).shape == (2, 1, 3, 1) and x.unsqueeze(0).shape == (1, 2, 1, 3)
    assert x.expand(4, 2, 5, 3).shape == (4, 2, 5, 3) and x.expand(-1, 2, -1).shape == (2, 2, 3)


def test_min_with_dim_returns_values_and_indices_like_torch():
    x = tinycnn.tensor([[1.0, -5.0, 2.0], [0.0, 0.0, 7.0]])
    values, indices = x.min(1)
    assert values.tolist() == [-5.0, 0.0] and indices.tolist() == [1, 0]
    assert x.min().item() == -5.0 and x.argmin().item() == 1 and x.argmax(1).tolist() == [2, 2]


def test_softmax_dim_out_of_range_is_named():
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range"):
        F.softmax(tinycnn.randn(2, 3), 2)
