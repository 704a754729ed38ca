"""Layers and models are Modules; `tinycnn.nn.functional` holds the stateless ops."""
from tinycnn.nn import functional, init  # noqa: F401
from tinycnn.nn.module import Module, Parameter  # noqa: F401
