"""Layers and models are Modules; `tinycnn.nn.functional` holds the stateless ops."""
from tinycnn.nn import functional, init  # noqa: F401
from tinycnn.nn.module import Module, Parameter  # noqa: F401
from tinycnn.nn.activation import LeakyReLU, LogSoftmax, ReLU, ReLU6, Hardsigmoid, Hardswish, Sigmoid, SiLU, Softmax, Tanh  # noqa: F401, E501
from tinycnn.nn.container import ModuleDict, ModuleList, Sequential  # noqa: F401
from tinycnn.nn.conv import Conv2d  # noqa: F401
from tinycnn.nn.dropout import Dropout, Dropout2d  # noqa: F401
from tinycnn.nn.flatten import Flatten  # noqa: F401
from tinycnn.nn.linear import Identity, Linear  # noqa: F401
from tinycnn.nn.batchnorm import BatchNorm1d, BatchNorm2d, BatchNormAct2d  # noqa: F401
from tinycnn.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: F401
from tinycnn.nn.drop_path import DropPath  # noqa: F401
from tinycnn.nn.squeeze_excitation import SEModule, SqueezeExcitation  # noqa: F401
from tinycnn.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from tinycnn.nn import utils  # noqa: F401, E402
