"""torchvision's weight initialisation for its mobile networks (MobileNet v1/v2)."""
from tinycnn import nn


def init_mobile_weights_(model: nn.Module) -> None:
    """Conv: kaiming normal (fan_out); BatchNorm: weight 1, bias 0;
    Linear: normal(0, 0.01), bias 0 -- in place, on every submodule."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
