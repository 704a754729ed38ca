"""Whether ops record the graph: `no_grad`, `enable_grad`, `inference_mode`,
`set_grad_enabled` (context managers, the first three also decorators)."""
import functools

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets whether ops record the graph."""

    enabled: bool

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """`with tinycnn.no_grad():` -- ops inside record no graph (inference)."""

    enabled = False


class enable_grad(_GradMode):
    enabled = True


class inference_mode(_GradMode):
    """`with tinycnn.inference_mode():` as PyTorch's: no graph is recorded (as no_grad;
    tinycnn has no version counters to skip). inference_mode(False) records as usual."""

    def __init__(self, mode: bool = True):
        self.enabled = not mode

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(not self.enabled):
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_GradMode):
    """As PyTorch's: sets the grad mode at once (a call), or for a `with` block, which
    restores the previous mode when it ends."""

    def __init__(self, mode: bool):
        global _grad_enabled
        self._prev, self.enabled = _grad_enabled, bool(mode)
        _grad_enabled = self.enabled

    def __enter__(self):
        pass

    def __call__(self, fn):
        raise TypeError("set_grad_enabled(mode) is a function or a context manager, not a decorator")
