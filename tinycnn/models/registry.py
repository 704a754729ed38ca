"""The model registry: every architecture registers its factory functions by name."""
from collections.abc import Callable

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Decorator: `@register_model def resnet20(num_classes=10, **kw)` makes
    `create("resnet20")` build it."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models(filter: str = "") -> list[str]:
    """Sorted names of the registered models containing `filter`."""
    return sorted(name for name in _MODELS if filter in name)


def create(name: str, num_classes: int = 10, **kwargs):
    """Build a registered model: `create("resnet20", num_classes=10)`."""
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name](num_classes=num_classes, **kwargs)
