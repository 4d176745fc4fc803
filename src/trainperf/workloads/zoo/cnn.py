"""Convolutional image classifiers built with transformers from their published configs (random init, no
download): ResNet-50 v1.5, ConvNeXt-B, EfficientNet-B4 and MobileNetV2 (torchvision and timm do not install
beside the CPU torch here; the transformers ports have the same parameter counts).

Model FLOPs are the published multiply-adds x 2 (forward) x 3 (forward + backward), scaled by the pixel count
when the image size differs from the published one: torch's FlopCounterMode over-counts depthwise/grouped conv
backward by x groups (notes P8), so a measured count is no reference for these networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw
from trainperf.workloads.zoo.vision import IMAGENET_CLASSES, hf_image_loss, image_batch, labels

if TYPE_CHECKING:
    import torch

_TIMM_CSV = "pytorch-image-models results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv"
_MIN_IMAGE = 32
"""Every network here downsamples 32x; a smaller image leaves no spatial extent for the last stage."""


def sgd_momentum(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """SGD, momentum 0.9, weight decay 1e-4: the ResNet-50 ImageNet recipe (Goyal et al. 2017, arXiv 1706.02677;
    torchvision references/classification). MLPerf's large-batch runs use LARS, which adds a per-layer norm
    ratio to the same update (You et al. 2017, arXiv 1708.03888); torch has no LARS."""
    import torch

    return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4, foreach=True)


def rmsprop(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """RMSProp, decay 0.9, momentum 0.9: the EfficientNet (Tan & Le 2019, 5.2) and MobileNetV2 (Sandler et al.
    2018, 6.1) recipes; weight decay 1e-5 (EfficientNet)."""
    import torch

    return torch.optim.RMSprop(params, lr=0.016, alpha=0.9, momentum=0.9, eps=1e-3, weight_decay=1e-5, foreach=True)


@dataclass(frozen=True, kw_only=True)
class CnnSpec:
    """One CNN: how to make its transformers model for a flavor, its published forward multiply-adds at the
    published resolution, and its training optimizer."""

    make: Callable[[str, int, int], Any]
    """make(flavor, image_size, classes) -> the model (called inside the caller's device/dtype context)."""
    gmacs: float
    """Published forward multiply-adds (GMACs) per image at ``ref_image``."""
    ref_image: int
    optimizer: Callable[[Iterable[Any]], Any] = adamw

    def flops_per_image(self, image_size: int) -> float:
        return 6.0 * self.gmacs * 1e9 * (image_size / self.ref_image) ** 2


def cnn_builder(spec: CnnSpec, name: str) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        assert size.batch is not None and size.image_size is not None
        b, img = size.batch, size.image_size
        if img < _MIN_IMAGE:
            raise ValueError(f"{name}: image_size={img} is below {_MIN_IMAGE} (the network downsamples 32x); "
                             f"use image_size >= {_MIN_IMAGE}")
        classes = IMAGENET_CLASSES if flavor == "full" else 10
        return Built(
            make_model=lambda: spec.make(flavor, img, classes), make_batch=lambda: image_batch(b, img, classes),
            loss=hf_image_loss, make_optimizer=spec.optimizer, batch=b, seq=None, samples_per_step=b,
            tokens_per_step=b, unit="sample", model_flops=b * spec.flops_per_image(img) if flavor == "full" else 0.0,
        )

    return build


def _resnet(flavor: str, img: int, classes: int) -> Any:
    from transformers import ResNetConfig, ResNetForImageClassification

    # defaults are ResNet-50: bottleneck blocks 3-4-6-3, stride in the 3x3 conv (v1.5, downsample_in_bottleneck
    # False), widths 256-2048
    cfg = ResNetConfig(**labels(classes)) if flavor == "full" else ResNetConfig(
        embedding_size=16, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1], **labels(classes))
    return ResNetForImageClassification(cfg)


def _convnext(flavor: str, img: int, classes: int) -> Any:
    from transformers import ConvNextConfig, ConvNextForImageClassification

    full = flavor == "full"
    cfg = ConvNextConfig(
        depths=[3, 3, 27, 3] if full else [1, 1, 2, 1],
        hidden_sizes=[128, 256, 512, 1024] if full else [16, 32, 64, 128], image_size=img, **labels(classes),
        # the recipe's stochastic depth (0.5 for B) multiplies residuals by random per-sample masks; off here so
        # every step runs the same ops
        drop_path_rate=0.0,
    )
    return ConvNextForImageClassification(cfg)


def _efficientnet(flavor: str, img: int, classes: int) -> Any:
    from transformers import EfficientNetConfig, EfficientNetForImageClassification
    from transformers.models.efficientnet.modeling_efficientnet import round_filters

    # B4 compound scaling (Tan & Le 2019, Table 2 / keras applications): width 1.4, depth 1.8, 380 px,
    # dropout 0.4; the tiny flavor scales the same 7-stage MBConv layout down (width 0.25, depth 0.3)
    width, depth, dropout = (1.4, 1.8, 0.4) if flavor == "full" else (0.25, 0.3, 0.2)
    cfg = EfficientNetConfig(width_coefficient=width, depth_coefficient=depth, image_size=img, dropout_rate=dropout,
                             **labels(classes))
    cfg.hidden_dim = round_filters(cfg, 1280)  # the head conv's width; the config default is B7's 2560
    return EfficientNetForImageClassification(cfg)


def _mobilenet_v2(flavor: str, img: int, classes: int) -> Any:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    cfg = MobileNetV2Config(depth_multiplier=1.0 if flavor == "full" else 0.25, image_size=img, **labels(classes))
    return MobileNetV2ForImageClassification(cfg)


# MobileNetV3-Large blocks (Howard et al. 2019, arXiv 1905.02244, Table 1; torchvision mobilenetv3.py):
# (kernel, expanded, out, squeeze-excite, hard-swish, stride); the stem is a 3x3 stride-2 conv to 16 channels
_MNV3_LARGE = (
    (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1),
)


def _divisible(c: float, d: int = 8) -> int:
    """Round channels to a multiple of 8, never more than 10% down (the MobileNet reference's _make_divisible)."""
    n = max(d, int(c + d / 2) // d * d)
    return n + d if n < 0.9 * c else n


def _mobilenet_v3(flavor: str, img: int, classes: int) -> Any:
    """MobileNetV3-Large, written out (transformers has no V3): inverted residuals with optional squeeze-excite
    (hard-sigmoid gate) and hard-swish, BatchNorm eps 1e-3; head 960 -> 1280 -> classes. The tiny flavor keeps
    every block at quarter width."""
    from torch import nn

    width = 1.0 if flavor == "full" else 0.25

    def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: Any = None) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01)]
        return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)

    class SqueezeExcite(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            squeeze = _divisible(c / 4)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.mean((2, 3), keepdim=True)
            return x * nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(s))))

    class Block(nn.Module):
        def __init__(self, c_in: int, k: int, exp: int, c_out: int, se: bool, hs: bool, stride: int) -> None:
            super().__init__()
            act = nn.Hardswish if hs else nn.ReLU
            layers: list[nn.Module] = [conv_bn(c_in, exp, 1, act=act)] if exp != c_in else []
            layers.append(conv_bn(exp, exp, k, stride, groups=exp, act=act))
            if se:
                layers.append(SqueezeExcite(exp))
            layers.append(conv_bn(exp, c_out, 1))
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            return x + y if self.residual else y  # type: ignore[no-any-return]

    class MobileNetV3(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = _divisible(16 * width)
            layers: list[nn.Module] = [conv_bn(3, c, 3, 2, act=nn.Hardswish)]
            for k, exp, out, se, hs, stride in _MNV3_LARGE:
                layers.append(Block(c, k, _divisible(exp * width), _divisible(out * width), se, hs, stride))
                c = _divisible(out * width)
            layers.append(conv_bn(c, 6 * c, 1, act=nn.Hardswish))
            self.features = nn.Sequential(*layers)
            last = _divisible(1280 * width)
            self.classifier = nn.Sequential(nn.Linear(6 * c, last), nn.Hardswish(), nn.Dropout(0.2),
                                            nn.Linear(last, classes))

        def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> Any:
            from types import SimpleNamespace

            logits = self.classifier(self.features(pixel_values).mean((2, 3)))
            return SimpleNamespace(loss=nn.functional.cross_entropy(logits.float(), labels), logits=logits)

    return MobileNetV3()


_SPECS = [
    ("resnet50", "ResNet-50 v1.5 (stride in the 3x3 conv), bottlenecks 3-4-6-3, BatchNorm, 224²; SGD momentum "
                 "(the recipe's optimizer; MLPerf's LARS is not in torch)",
     "He et al. 2016 (arXiv 1512.03385) Table 1; NVIDIA DeepLearningExamples ResNet-50 v1.5; MLPerf Training "
     "image_classification", CnnSpec(make=_resnet, gmacs=4.11, ref_image=224, optimizer=sgd_momentum),
     224, 256, 25.56e6, "torchvision resnet50: 25,557,032", f"timm resnet50 4.11 GMACs at 224 ({_TIMM_CSV})"),
    ("convnext-base", "ConvNeXt-B: depths 3-3-27-3, widths 128-1024, 7x7 depthwise convs, LayerNorm, layer scale; "
                      "224²; AdamW (the paper's recipe)",
     "Liu et al. 2022 (arXiv 2201.03545) 2.6 / Table 1", CnnSpec(make=_convnext, gmacs=15.38, ref_image=224),
     224, 128, 88.59e6, "timm convnext_base: 88.59M (paper Table 1: 89M)",
     f"timm convnext_base 15.38 GMACs at 224 ({_TIMM_CSV}); paper 15.4G"),
    ("efficientnet-b4", "EfficientNet-B4: MBConv stages with squeeze-excitation, width 1.4 x depth 1.8, 380²; "
                        "RMSProp (the paper's recipe)",
     "Tan & Le 2019 (arXiv 1905.11946) Table 1-2; keras EfficientNetB4",
     CnnSpec(make=_efficientnet, gmacs=4.2, ref_image=380, optimizer=rmsprop),
     380, 64, 19.34e6, "timm efficientnet_b4: 19.34M (paper Table 2: 19M)",
     "Tan & Le 2019 Table 2: B4 4.2B FLOPs (multiply-adds) at 380²"),
    ("mobilenetv2", "MobileNetV2 1.0: inverted residuals with linear bottlenecks, 3x3 depthwise convs, 224²; "
                    "RMSProp (the paper's recipe)",
     "Sandler et al. 2018 (arXiv 1801.04381) Table 2", CnnSpec(make=_mobilenet_v2, gmacs=0.30, ref_image=224,
                                                              optimizer=rmsprop),
     224, 256, 3.505e6, "torchvision mobilenet_v2: 3,504,872 (paper Table 4: 3.4M)",
     "Sandler et al. 2018 Table 4: 300M multiply-adds at 224² (torchvision: 0.30 GFLOPS)"),
    ("mobilenetv3-large", "MobileNetV3-Large 1.0 (written in PyTorch: transformers has no V3): 15 inverted-residual "
                          "blocks, squeeze-excite, hard-swish, 224²; RMSProp (the paper's recipe)",
     "Howard et al. 2019 (arXiv 1905.02244) Table 1; torchvision models/mobilenetv3.py",
     CnnSpec(make=_mobilenet_v3, gmacs=0.219, ref_image=224, optimizer=rmsprop),
     224, 256, 5.483e6, "torchvision mobilenet_v3_large: 5,483,032 (paper Table 3: 5.4M)",
     "Howard et al. 2019 Table 3: 219M multiply-adds at 224² (timm mobilenetv3_large_100: 0.23 GMACs)"),
]

for _name, _desc, _src, _spec, _img, _batch, _params, _psrc, _fsrc in _SPECS:
    register_workload(Workload(
        name=_name, domain=Domain.CNN, library="transformers", description=_desc, source=_src,
        build_fn=cnn_builder(_spec, _name),
        # tiny batch 4: BatchNorm over 2 images on the last stages' 1x1 maps leaves some biases without gradient
        canonical={"full": Size(batch=_batch, image_size=_img), "tiny": Size(batch=4, image_size=32)},
        published_params=_params, published_params_source=_psrc,
        train_flops_per_unit=_spec.flops_per_image(_img), train_flops_source=f"{_fsrc} x 2 (fwd) x 3 (fwd+bwd)",
    ))
