"""Optimisers and learning-rate schedules (`tinycnn.optim.lr_scheduler`), as in PyTorch."""
from tinycnn.optim import lr_scheduler  # noqa: F401
from tinycnn.optim.adam import Adam, AdamW  # noqa: F401
from tinycnn.optim.optimizer import Optimizer  # noqa: F401
from tinycnn.optim.sgd import SGD  # noqa: F401
