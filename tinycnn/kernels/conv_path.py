"""What a fast path of the convolution (`Pointwise`, `Depthwise`, `Direct`) gives `ops.conv`:
`name` and `why`, `cannot` and `slower` (its rule), `forward`, `grad_input`, `grad_weight`, and
`backward`, which `ops.conv` calls for the gradients a step wants; and `padded_to_blocks`, the
weight as the register-blocked kernels read it."""
import numpy as np


class ConvPath:
    """The base of the fast paths: `backward` from `grad_input` and `grad_weight`, each computed
    only if wanted. A path whose kernels compute both gradients in one pass overrides it."""

    def backward(self, grad, x, weight, geometry, groups, need_x, need_w):
        """(dX or None, dW or None) of the layer: grad (N, C_out, Ho, Wo), x (N, C, H, W)."""
        gx = self.grad_input(grad, weight, x.shape, geometry, groups) if need_x else None
        gw = self.grad_weight(grad, x, geometry, groups) if need_w else None
        return gx, gw


def padded_to_blocks(weight, block, dtype=None):
    """weight (C_out, ...) contiguous and of dtype (weight's own if None), its output channels
    padded with zero channels to whole blocks of `block` (kernels that sum `block` output
    channels at once). A weight of whole blocks is used as it is: no copy on every call."""
    C_out = weight.shape[0]
    if C_out % block == 0:
        return np.ascontiguousarray(weight, dtype=dtype)
    w = np.zeros((-(-C_out // block) * block,) + weight.shape[1:], dtype=dtype or weight.dtype)
    w[:C_out] = weight
    return w
