"""The model zoo. Each family lives in its own file and registers its
configurations; `create(name)` builds one, `list_models()` lists them.

Importing a family file runs its `@register_model` decorators: add one line
per family below."""
from tinycnn.models.registry import create, default_num_classes, input_size, list_models, register_model  # noqa: F401
from tinycnn.models.pretrained import PretrainedError, list_pretrained, pretrained_info  # noqa: F401
from tinycnn.models import resnet  # noqa: F401, E402  ResNet-20..110, ResNet-18..152, stochastic depth
from tinycnn.models import preact_resnet  # noqa: F401, E402  pre-activation ResNet-110/164/1001, -50
from tinycnn.models import wide_resnet  # noqa: F401, E402  WRN-16-4, WRN-28-10, WRN-40-4, wide_resnet50_2
from tinycnn.models import resnext  # noqa: F401, E402  ResNeXt-29 8x64d/16x64d, resnext50_32x4d
from tinycnn.models import senet  # noqa: F401, E402  SE-ResNet-20/56/110, se_resnet50
from tinycnn.models import densenet  # noqa: F401, E402  DenseNet-40, DenseNet-BC-100, densenet121
from tinycnn.models import mobilenet_v1  # noqa: F401, E402  MobileNet v1 (ImageNet 1.0-224, CIFAR)
from tinycnn.models import mobilenet_v2  # noqa: F401, E402  MobileNetV2 (ImageNet, CIFAR)
from tinycnn.models import efficientnet  # noqa: F401, E402  EfficientNet-B0..B7, efficientnet(phi), B0 CIFAR
from tinycnn.models import fast_cifar  # noqa: F401, E402  resnet9_fast: the small fast net of `tinycnn train`
from tinycnn.models import cifar_small  # noqa: F401, E402  the small versions of every family (--recipe cifar-small)
