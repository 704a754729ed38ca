"""ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 (arXiv:1512.03385).

A residual block learns F(x) and outputs relu(F(x) + shortcut(x)).

ImageNet ResNets (paper Table 1), torchvision's module structure and
state_dict keys (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc, ...),
stride on the 3x3 convolution ("ResNet v1.5", as torchvision):

    name        block       blocks per stage   params (torchvision)
    resnet18    BasicBlock  [2, 2, 2, 2]       11,689,512
    resnet34    BasicBlock  [3, 4, 6, 3]       21,797,672
    resnet50    Bottleneck  [3, 4, 6, 3]       25,557,032
    resnet101   Bottleneck  [3, 4, 23, 3]      44,549,160
    resnet152   Bottleneck  [3, 8, 36, 3]      60,192,808

CIFAR ResNets (paper Section 4.2): a 3x3 conv with 16 filters, then 3
stages of n basic blocks on 32x32, 16x16, 8x8 maps with 16, 32, 64 filters,
global average pooling and a 10-way fc: 6n + 2 weighted layers.
ResNet-20/32/44/56/110 (n = 3, 5, 7, 9, 18): 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
Where the shape changes the shortcut is option A (stride-2 subsampling and
zero-padded extra channels: no parameters; the paper's CIFAR choice) or
option B (1x1 convolution + BN projection), chosen with `shortcut="A"|"B"`.

Options shared by every model of the file (and reused by resnext.py,
wide_resnet.py and senet.py):
- `se=True, se_ratio=1/16`: a squeeze-and-excitation block (Hu et al., SENet)
  on the residual branch, before the addition (SE-ResNet).
- `drop_path_rate=p`: stochastic depth (Huang et al., ECCV 2016): in training
  the residual branch of block l (of L) is dropped per sample with
  probability p * l / L (survival decays linearly from 1 to p_L = 1 - p);
  at test time the full network runs. Surviving branches are scaled by
  1 / p_l in training (nn.DropPath, as timm) where the paper scales them by
  p_l at test time: the same in expectation. See `nn.drop_path.stochastic_depth_rates`.
  `drop_path_mode="batch"` drops a block for the whole mini-batch, as the paper
  does, and then skips computing its branch: the training time it saves.
"""
from __future__ import annotations

from tinycnn import nn
from tinycnn.models.registry import IMAGENET_INPUT, register_model
from tinycnn.models.weight_init import init_weights_
from tinycnn.nn import functional as F
from tinycnn.nn.drop_path import stochastic_depth_rates_per_stage
from tinycnn.tensor import Tensor


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def squeeze_excitation(channels: int, se: bool, se_ratio: float) -> nn.Module:
    """SE block with max(1, int(channels * se_ratio)) hidden units (SENet's
    reduction r = 1 / se_ratio), or Identity when se is False."""
    if not se:
        return nn.Identity()
    return nn.SqueezeExcitation(channels, max(1, int(channels * se_ratio)))


def drop_path(rate: float, mode: str = "row") -> nn.Module:
    return nn.DropPath(rate, mode) if rate > 0 else nn.Identity()


def skips(drop_path: nn.Module) -> bool:
    """Whether a block's branch is dropped for this whole batch (DropPath mode "batch", training)."""
    return isinstance(drop_path, nn.DropPath) and drop_path.skip()


class ShortcutA(nn.Module):
    """Option A shortcut: identity on a stride-subsampled map, with the extra
    channels zero-padded (no parameters).

    x: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ShortcutA: out_planes ({out_planes}) must be >= in_planes ({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        x = x[:, :, ::s, ::s]  # (N, C_in, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.out_planes - self.in_planes))  # (N, C_out, H/s, W/s)

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (paper Fig. 2 left):

        out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

    x: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).
    `downsample` is the shortcut where the shape changes (else identity).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, se: bool = False, se_ratio: float = 1 / 16,
                 drop_path_rate: float = 0.0, drop_path_mode: str = "row"):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock: only groups=1 and base_width=64 are defined, got {groups}, {base_width}")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = squeeze_excitation(planes, se, se_ratio)
        self.drop_path = drop_path(drop_path_rate, drop_path_mode)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        if skips(self.drop_path):  # stochastic depth, mode "batch": the block is skipped for this batch
            return self.relu(identity)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(self.drop_path(out) + identity)


class PlainBlock(BasicBlock):
    """BasicBlock without its shortcut (the paper's "plain" baseline, Fig. 3 middle):

        out = relu(bn2(conv2(relu(bn1(conv1(x))))))

    The shortcut modules BasicBlock builds are never called (they hold no parameters with
    shortcut "A"), so a plain net has its ResNet twin's layers, state_dict keys and initialisation.
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, **kwargs):
        if kwargs.get("se") or kwargs.get("drop_path_rate", 0.0) > 0:
            raise ValueError("PlainBlock: squeeze-excitation and stochastic depth act on a residual branch; "
                             f"a plain block has none, got se={kwargs.get('se')}, "
                             f"drop_path_rate={kwargs.get('drop_path_rate')}")
        super().__init__(inplanes, planes, stride, downsample, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride, groups) -> 1x1 (expand x4), paper Fig. 5:

        out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))

    The 3x3 has width = int(planes * base_width / 64) * groups channels:
    plain ResNet (groups=1, base_width=64): width = planes;
    ResNeXt (groups = cardinality C, base_width = d): width = C * d;
    Wide ResNet-50-2 (base_width=128): width = 2 * planes.
    x: (N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, se: bool = False, se_ratio: float = 1 / 16,
                 drop_path_rate: float = 0.0, drop_path_mode: str = "row"):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.se = squeeze_excitation(planes * self.expansion, se, se_ratio)
        self.drop_path = drop_path(drop_path_rate, drop_path_mode)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        if skips(self.drop_path):  # stochastic depth, mode "batch": the block is skipped for this batch
            return self.relu(identity)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(self.drop_path(out) + identity)


def projection(inplanes: int, outplanes: int, stride: int) -> nn.Sequential:
    """Option B shortcut: 1x1 convolution + BN (torchvision's `downsample`)."""
    return nn.Sequential(conv1x1(inplanes, outplanes, stride), nn.BatchNorm2d(outplanes))


def make_layer(block, inplanes: int, planes: int, blocks: int, stride: int, drop_path_rates: list[float],
               shortcut: str = "B", **block_kwargs) -> nn.Sequential:
    """One stage: `blocks` blocks, the first with `stride` and the shortcut
    ("A" zero-padding or "B" projection) where the shape changes; block i
    gets drop_path_rates[i]. block_kwargs: groups, base_width, se, se_ratio, drop_path_mode."""
    outplanes = planes * block.expansion
    downsample = None
    if (stride != 1 or inplanes != outplanes) and shortcut == "A":
        downsample = ShortcutA(inplanes, outplanes, stride)
    elif stride != 1 or inplanes != outplanes:
        downsample = projection(inplanes, outplanes, stride)
    layers = [block(inplanes, planes, stride, downsample, drop_path_rate=drop_path_rates[0], **block_kwargs)]
    for i in range(1, blocks):
        layers.append(block(outplanes, planes, drop_path_rate=drop_path_rates[i], **block_kwargs))
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ImageNet ResNet (paper Table 1), torchvision's structure.

    conv1 7x7/2 (64) -> bn1 -> relu -> maxpool 3x3/2 -> layer1..layer4
    (64, 128, 256, 512 planes; stride 1, 2, 2, 2) -> avgpool -> fc.
    x: (N, 3, H, W) -> logits (N, num_classes); 224x224 gives 7x7 before pooling.

    block: BasicBlock or Bottleneck; layers: blocks per stage.
    groups / width_per_group: ResNeXt cardinality C and bottleneck width d.
    """

    def __init__(self, block, layers: list[int], num_classes: int = 1000, groups: int = 1, width_per_group: int = 64,
                 se: bool = False, se_ratio: float = 1 / 16, drop_path_rate: float = 0.0,
                 drop_path_mode: str = "row"):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: expected 4 stage depths, got {layers}")
        rates = stochastic_depth_rates_per_stage(drop_path_rate, layers)
        block_kwargs = dict(groups=groups, base_width=width_per_group, se=se, se_ratio=se_ratio,
                            drop_path_mode=drop_path_mode)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stage = make_layer(block, inplanes, planes, n, 1 if i == 0 else 2, rates[i], **block_kwargs)
            self.add_module(f"layer{i + 1}", stage)  # layer1 .. layer4
            inplanes = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 * expansion, H/32, W/32)
        return self.fc(self.avgpool(x).flatten(1))  # (N, num_classes)


class CifarResNet(nn.Module):
    """CIFAR ResNet (paper Section 4.2), 32x32 inputs.

    conv1 3x3 (stem_width) -> bn1 -> relu -> layer1..layer3 (planes
    `widths`, strides 1, 2, 2; `layers[i]` blocks each) -> avgpool -> fc.
    x: (N, 3, 32, 32) -> logits (N, num_classes).

    With BasicBlock, widths (16, 32, 64) and n blocks per stage this is the
    paper's 6n + 2 layer network. shortcut: "A" (zero-padding, default) or
    "B" (projection). resnext.py reuses it with Bottleneck and groups.
    """

    def __init__(self, block, layers: list[int], num_classes: int = 10, widths=(16, 32, 64), stem_width: int = 16,
                 shortcut: str = "A", groups: int = 1, width_per_group: int = 64, se: bool = False,
                 se_ratio: float = 1 / 16, drop_path_rate: float = 0.0, drop_path_mode: str = "row"):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        if len(layers) != len(widths):
            raise ValueError(f"CifarResNet: {len(layers)} stage depths for {len(widths)} stage widths")
        rates = stochastic_depth_rates_per_stage(drop_path_rate, layers)
        block_kwargs = dict(groups=groups, base_width=width_per_group, se=se, se_ratio=se_ratio,
                            drop_path_mode=drop_path_mode)
        self.conv1 = conv3x3(3, stem_width)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU()
        inplanes = stem_width
        for i, (planes, n) in enumerate(zip(widths, layers, strict=True)):
            stage = make_layer(block, inplanes, planes, n, 1 if i == 0 else 2, rates[i], shortcut, **block_kwargs)
            self.add_module(f"layer{i + 1}", stage)
            inplanes = planes * block.expansion
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        init_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, stem_width, 32, 32)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)  # stage i: (N, widths[i] * expansion, 32 / 2^i, 32 / 2^i)
        return self.fc(self.avgpool(x).flatten(1))  # (N, num_classes)


def cifar_resnet(depth: int, num_classes: int = 10, **kwargs) -> CifarResNet:
    """The paper's CIFAR ResNet with 6n + 2 layers (depth = 20, 32, 44, 56, 110, 1202, ...)."""
    if (depth - 2) % 6 != 0 or depth < 8:
        raise ValueError(f"cifar_resnet: depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth}")
    n = (depth - 2) // 6
    return CifarResNet(BasicBlock, [n, n, n], num_classes=num_classes, **kwargs)


@register_model
def resnet20(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-20 (n = 3), 0.27M parameters, 8.75% CIFAR-10 error in the paper."""
    return cifar_resnet(20, num_classes, **kwargs)


@register_model
def resnet32(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-32 (n = 5), 0.46M parameters, 7.51% error."""
    return cifar_resnet(32, num_classes, **kwargs)


@register_model
def resnet44(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-44 (n = 7), 0.66M parameters, 7.17% error."""
    return cifar_resnet(44, num_classes, **kwargs)


@register_model
def resnet56(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-56 (n = 9), 0.85M parameters, 6.97% error."""
    return cifar_resnet(56, num_classes, **kwargs)


@register_model
def resnet110(num_classes: int = 10, **kwargs) -> CifarResNet:
    """ResNet-110 (n = 18), 1.7M parameters, 6.43% error."""
    return cifar_resnet(110, num_classes, **kwargs)


@register_model
def resnet110_stochastic_depth(num_classes: int = 10, drop_path_rate: float = 0.5, **kwargs) -> CifarResNet:
    """ResNet-110 with stochastic depth (Huang et al., "Deep Networks with
    Stochastic Depth", ECCV 2016): survival probability decays linearly from
    1 (input) to p_L = 0.5 (last block); 5.25% CIFAR-10 error in that paper."""
    return cifar_resnet(110, num_classes, drop_path_rate=drop_path_rate, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18: 11,689,512 parameters, 1.82 GMACs at 224x224."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34: 21,797,672 parameters, 3.6 GMACs."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50: 25,557,032 parameters, 4.1 GMACs."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101: 44,549,160 parameters, 7.8 GMACs."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes=num_classes, **kwargs)


@register_model(input_size=IMAGENET_INPUT)
def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152: 60,192,808 parameters, 11.5 GMACs."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes=num_classes, **kwargs)
