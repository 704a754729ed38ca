"""A small, fast CIFAR network for `tinycnn train`'s default job: the best accuracy in a few
minutes of CPU time.

It follows the shape of the ResNet-9 of the fast-CIFAR "speedrun" recipes (David Page, "How to
train your ResNet", 2018; Keller Jordan's airbench, 2024): few layers, BatchNorm after every
convolution, max-pooling right after the convolutions that widen (conv -> pool -> BN -> ReLU, as
in airbench: BN and ReLU then run on 4x fewer values), two residual blocks, a global max-pool and
a linear classifier whose output is scaled down (x 0.125). To be cheap on a CPU it is narrower
than Page's net and leaves 32x32 at once: a 4x4 stride-2 stem convolution (each output sees a
4x4 patch; neighbouring patches overlap by 2 pixels, so no pixel is skipped) makes 16x16 maps,
and every other layer works on 16x16, 8x8 or 4x4 maps:

    stem     conv4x4/2(3 -> w0) BN ReLU                              32x32 -> 16x16
    layer1   conv3x3(w0 -> w1) maxpool2 BN ReLU  + residual(w1)      16x16 -> 8x8
    layer2   conv3x3(w1 -> w2) maxpool2 BN ReLU                       8x8 -> 4x4
    layer3   conv3x3(w2 -> w3) BN ReLU           + residual(w3)      4x4
    head     global max-pool, linear(w3 -> classes), x 0.125

where residual(c)(x) = x + relu(bn(conv3x3(relu(bn(conv3x3(x)))))). With the default widths
(24, 32, 64, 128): 0.42M parameters, 10.3M multiply-accumulates per 32x32 image.
"""
from tinycnn import nn
from tinycnn.models.registry import register_model
from tinycnn.tensor import Tensor


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 (padding 1, no bias) -> BatchNorm -> ReLU; (N, in, H, W) -> (N, out, H, W)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def conv_pool_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 -> maxpool2 -> BatchNorm -> ReLU; (N, in, H, W) -> (N, out, H/2, W/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class Residual(nn.Module):
    """x + f(x) with f = two conv_bn_relu layers at constant width; (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.res1 = conv_bn_relu(channels, channels)
        self.res2 = conv_bn_relu(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res2(self.res1(x))


class FastResNet(nn.Module):
    """x: (N, 3, 32, 32) -> logits (N, num_classes). See the module docstring for the layout."""

    def __init__(self, widths=(24, 32, 64, 128), num_classes: int = 10, scale: float = 0.125):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"FastResNet: expected 4 widths (stem, layer1, layer2, layer3), got {widths}")
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(  # (N, w0, 16, 16)
            nn.Conv2d(3, w0, kernel_size=4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w0), nn.ReLU())
        self.layer1 = nn.Sequential(conv_pool_bn_relu(w0, w1), Residual(w1))  # (N, w1, 8, 8)
        self.layer2 = conv_pool_bn_relu(w1, w2)  # (N, w2, 4, 4)
        self.layer3 = nn.Sequential(conv_bn_relu(w2, w3), Residual(w3))  # (N, w3, 4, 4)
        self.fc = nn.Linear(w3, num_classes, bias=False)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FastResNet: expected input (N, 3, H, W), got {tuple(x.shape)}")
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))  # (N, w3, h, w)
        x = x.amax(dim=(2, 3))  # (N, w3): global max-pool
        return self.fc(x) * self.scale  # (N, num_classes)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


@register_model
def resnet9_fast(num_classes: int = 10, widths=(24, 32, 64, 128), **kwargs) -> FastResNet:
    """The default model of `tinycnn train`: 0.42M parameters, 10.3M MACs (CIFAR, 32x32)."""
    return FastResNet(widths, num_classes, **kwargs)
