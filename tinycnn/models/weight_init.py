"""torchvision's weight initialisation of its CNNs: one routine for every model here.

All of them: conv weights He-normal (`kaiming_normal_`, std = sqrt(2 / fan), the gain of ReLU),
BatchNorm weight 1 and bias 0. They differ in three places, each an argument:

    model                      conv_fan   zero_conv_bias  linear
    ResNets (and their kin)    fan_out    no              "default": PyTorch's, kept
    MobileNet v1/v2            fan_out    no              "normal": N(0, 0.01), bias 0
    EfficientNet               fan_out    yes             "uniform": U(-1/sqrt(out), 1/sqrt(out)), bias 0
    DenseNet                   fan_in     no              "zero_bias": weight kept, bias 0
"""
import math

from tinycnn import nn

LINEAR_INITS = ("default", "normal", "uniform", "zero_bias")


def init_weights_(model: nn.Module, conv_fan: str = "fan_out", zero_conv_bias: bool = False,
                  linear: str = "default") -> None:
    """Initialise every submodule of `model` in place (see the module docstring)."""
    if linear not in LINEAR_INITS:
        raise ValueError(f"init_weights_: linear must be one of {LINEAR_INITS}, got {linear!r}")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_fan, nonlinearity="relu")
            if zero_conv_bias and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear != "default":
            if linear == "normal":
                nn.init.normal_(m.weight, 0, 0.01)
            elif linear == "uniform":
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
