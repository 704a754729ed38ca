"""Datasets and input pipelines: CIFAR-10/100 from the official archives, augmentation, batching."""
from tinycnn.data.augment import (  # noqa: F401
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    EvalTransform,
    TrainTransform,
    cutout,
    normalize,
    random_crop,
    random_horizontal_flip,
)
from tinycnn.data.cifar import CIFAR, DatasetError, load_cifar10, load_cifar100  # noqa: F401
from tinycnn.data.loader import DataLoader, stratified_subset  # noqa: F401
