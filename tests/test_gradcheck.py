"""tinycnn.gradcheck itself: it passes correct gradients, catches wrong ones
with a readable report, and refuses what it cannot check."""
import numpy as np
import pytest

import tinycnn
import tinycnn.nn.functional as F
from tinycnn import Function, gradcheck


class SquareWithWrongGrad(Function):
    """x^2 whose backward forgets the factor 2 at one element."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, grad):
        (x,) = self.saved_tensors
        g = 2 * x * grad
        g.flat[1] /= 2
        return g


def x64(*shape, requires_grad=True):
    return tinycnn.randn(*shape, dtype=np.float64, requires_grad=requires_grad)


def test_gradcheck_is_the_exported_function():
    import tinycnn.gradcheck as module_path  # noqa: F401  (the module stays importable)
    from tinycnn.gradcheck import gradcheck as same

    assert same is gradcheck and callable(tinycnn.gradcheck)


@pytest.mark.parametrize("mode", ["full", "random"])
def test_passes_correct_gradients(mode):
    x, w = x64(3, 4), x64(4, 2)
    assert gradcheck(lambda x, w: (x @ w).tanh(), [x, w], mode=mode) is True


def test_full_mode_reports_the_worst_element():
    x = x64(2, 3)
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda x: SquareWithWrongGrad.apply(x), [x])
    msg = str(info.value)
    assert "1 of 36 entries" in msg and "input 0 (shape (2, 3)), element (0, 1)" in msg
    assert "of output element (0, 1)" in msg and "analytic" in msg and "numeric" in msg and "rel error" in msg


def test_random_mode_catches_a_wrong_gradient():
    x = x64(20, 10)
    with pytest.raises(AssertionError, match="input 0 \\(shape \\(20, 10\\)\\), random direction 0"):
        gradcheck(lambda x: SquareWithWrongGrad.apply(x), [x], mode="random")


def test_constants_and_closures():
    x, w = x64(4, 3), x64(3, 5)
    target = np.array([0, 4, 2, 1])
    scale = x64(1, requires_grad=False)  # a float64 tensor without grad is a constant
    assert gradcheck(lambda x, t, s: F.cross_entropy((x @ w) * s, t), [x, target, scale])
    # w is reached through the closure only: perturbed in place, so checked too
    assert gradcheck(lambda x, *params: F.cross_entropy(x @ w, target), [x, w])


def test_inputs_and_grads_are_restored():
    x = x64(3)
    x.grad = tinycnn.tensor(np.full(3, 7.0))
    data = x.data
    gradcheck(lambda x: x.exp(), [x])
    assert x.data is data and x.grad.tolist() == [7.0, 7.0, 7.0]


def test_refusals():
    with pytest.raises(TypeError, match="input 0 has dtype float32.*float64"):
        gradcheck(lambda x: x * 2, [tinycnn.randn(3, requires_grad=True)])
    with pytest.raises(TypeError, match="fn must return a float64 Tensor"):
        gradcheck(lambda x: x.float(), [x64(3)])
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        gradcheck(lambda x: x * 2, [x64(3, requires_grad=False)])
    with pytest.raises(ValueError, match="not a leaf"):
        gradcheck(lambda x: x * 2, [x64(3) * 2])
    with pytest.raises(ValueError, match="mode"):
        gradcheck(lambda x: x * 2, [x64(3)], mode="fast")


def test_nondeterministic_fn_is_refused_and_reseeding_fixes_it():
    def dropout(x):
        return x * (tinycnn.rand(*x.shape, dtype=np.float64) > 0.5)

    with pytest.raises(ValueError, match="deterministic"):
        gradcheck(dropout, [x64(5)])

    def reseeded(x):
        tinycnn.manual_seed(0)
        return dropout(x)

    assert gradcheck(reseeded, [x64(5)])


def test_kink_fails_as_it_should():
    x = tinycnn.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with pytest.raises(AssertionError):
        gradcheck(lambda x: F.relu(x), [x])
