"""The model registry: every architecture registers its factory functions by name."""
import inspect
from collections.abc import Callable

from tinycnn.models.pretrained import list_pretrained, load_pretrained_, pretrained_info

_MODELS: dict[str, Callable] = {}
_INPUT_SIZES: dict[str, tuple[int, int, int]] = {}

CIFAR_INPUT = (3, 32, 32)
IMAGENET_INPUT = (3, 224, 224)


def register_model(fn: Callable | None = None, *, input_size: tuple[int, int, int] = CIFAR_INPUT):
    """Decorator: `@register_model def resnet20(num_classes=10, **kw)` makes
    `create("resnet20")` build it. ImageNet-sized models say so:
    `@register_model(input_size=IMAGENET_INPUT)`."""

    def register(f: Callable) -> Callable:
        if f.__name__ in _MODELS:
            raise ValueError(f"model {f.__name__!r} is registered twice")
        _MODELS[f.__name__] = f
        _INPUT_SIZES[f.__name__] = tuple(input_size)
        return f

    return register(fn) if fn is not None else register


def list_models(filter: str = "") -> list[str]:
    """Sorted names of the registered models containing `filter`."""
    return sorted(name for name in _MODELS if filter in name)


def _factory(name: str) -> Callable:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def create(name: str, num_classes: int | None = None, pretrained: bool = False, **kwargs):
    """Build a registered model: `create("resnet20")`, `create("resnet50", num_classes=10)`.

    num_classes: None keeps the model's own default (10 for CIFAR models,
    1000 for ImageNet-sized ones, as in torchvision).
    pretrained: load the shipped CIFAR-10 weights (`list_pretrained()` names the
    models that have them; `pretrained_info(name)` says how they were trained)."""
    factory = _factory(name)
    if pretrained:
        info = pretrained_info(name) if name in list_pretrained() else None
        if info is None:
            raise ValueError(f"create({name!r}, pretrained=True): no shipped weights for {name!r}; "
                             f"models with weights: {', '.join(list_pretrained()) or 'none yet'}")
        if num_classes not in (None, info["num_classes"]):
            raise ValueError(f"create({name!r}, pretrained=True): the weights have {info['num_classes']} classes, "
                             f"got num_classes={num_classes}")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    model = factory(**kwargs)
    if pretrained:
        load_pretrained_(model, name)
    return model


def default_num_classes(name: str) -> int:
    """The number of classes `create(name)` builds (10 or 1000)."""
    return inspect.signature(_factory(name)).parameters["num_classes"].default


def input_size(name: str, model=None) -> tuple[int, int, int]:
    """The (C, H, W) input a model was designed for: 3x32x32 for CIFAR models,
    3x224x224 for ImageNet ones, or the model's own `input_size` (set by a
    resolution multiplier or an EfficientNet's scaled resolution)."""
    _factory(name)
    own = getattr(model, "input_size", None)
    return tuple(own) if own is not None else _INPUT_SIZES[name]
