"""Channel rounding shared by MobileNetV1/V2 and EfficientNet.

Scaling a layer's width by a multiplier gives fractional channel counts;
the TensorFlow reference implementations (and torchvision/timm after them)
round them to a multiple of 8, which suits vector hardware.
"""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """`value` rounded to the nearest multiple of `divisor` (at least
    `min_value`, default `divisor`), never more than 10% below `value`.

    make_divisible(32 * 0.75) == 24, make_divisible(16 * 1.1) == 16,
    make_divisible(40 * 1.1) == 48 (44 is halfway: rounded up).
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # rounding down must not lose more than 10%
        rounded += divisor
    return rounded
