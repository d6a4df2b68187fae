"""Image and text encoders shared by every method.

Image encoders expose ``features(x) -> (B, C, h, w)`` and ``encode_image(x) -> (B, C)``,
like the EfficientNet-Lite0 tower; text encoders map right-padded token ids and their attention
mask to a pooled vector ``(B, out_dim)``: an Embedding + LSTM trained from scratch, or the
pretrained MiniLM tower. All export to ONNX with dynamic batch (and sequence) axes. Pretrained
towers set ``pretrained_tower = True``, which puts their trained parameters at ``tower_lr``
(``training.methods.optim``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from training.methods.config import ImageEncoderConfig, TextEncoderConfig

if TYPE_CHECKING:
    from training.towers.minilm import MiniLMEncoder


def _conv_bn(in_ch: int, out_ch: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    ]


class SmallCNN(nn.Module):
    """A small CNN for training from scratch: per width, a stride-2 conv then a stride-1 conv.

    With widths (16, 32, 64) a 64x64 image becomes an 8x8 map of 64 channels (receptive field
    43 px) for about 70k parameters.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), pool: str = "max") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for width in widths:
            layers += _conv_bn(in_ch, width, 2) + _conv_bn(width, width, 1)
            in_ch = width
        self.body = nn.Sequential(*layers)
        self.pool = pool
        self.frozen = False
        self.map_channels = in_ch  # channels of features(x)
        self.out_channels = in_ch * (2 if pool == "meanmax" else 1)  # width of encode_image(x)

    def freeze(self) -> SmallCNN:
        """Stop training this encoder: no gradients, BatchNorm statistics kept (eval mode)."""
        self.frozen = True
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> SmallCNN:
        return super().train(mode and not self.frozen)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, H, W) -> feature map (B, C, H/2^k, W/2^k)."""
        fmap: torch.Tensor = self.body(x)
        return fmap

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, H, W) -> globally pooled features (B, C) or (B, 2C).

        Max pooling suits small objects anywhere in the frame: averaging an 8x8 map would
        dilute one object's response with background.
        """
        fmap = self.features(x)  # (B, C, h, w)
        if self.pool == "mean":
            return fmap.mean(dim=(2, 3))
        peak = fmap.amax(dim=(2, 3))  # (B, C)
        if self.pool == "max":
            return peak
        return torch.cat([fmap.mean(dim=(2, 3)), peak], dim=1)


class PretrainedEfficientNet(nn.Module):
    """EfficientNet-Lite0 (the pretrained tower of ``training.towers``), frozen or partly trained.

    ``trainable_blocks`` N splits the tower in two: a frozen prefix (stem and the first 16 - N
    blocks), whose BatchNorm stays in eval mode whatever ``train()`` says (``requires_grad``
    alone does not stop running statistics from drifting), and the trained rest (the last N
    blocks and the 1x1 head convolution; N = 16 trains the stem too). The tower is marked
    ``pretrained_tower`` so the optimiser gives its parameters ``tower_lr``.

    ``use_cached_prefix(True)`` makes the encoder take what ``frozen_prefix`` returned instead
    of pixels (``training.methods.feature_cache``): with a frozen prefix and no augmentation,
    that output is the same every epoch, so it is computed once.
    """

    pretrained_tower = True

    def __init__(self, config: ImageEncoderConfig) -> None:
        super().__init__()
        from training.towers import efficientnet_lite as eff

        size = config.resample_to or config.image_size
        self.tower = eff.EfficientNetLite0(image_size=size)
        if config.pretrained:
            state = torch.load(eff.weights_path(), map_location="cpu", weights_only=True)
            self.tower.load_state_dict(state, strict=True)
        # The ImageNet classifier is not part of the encoder: drop it, so it is neither
        # counted nor handed to the optimiser (1.28M parameters).
        self.tower._fc = nn.Identity()  # type: ignore[assignment]
        self.resample_to = config.resample_to
        self.map_channels = self.out_channels = eff.FEATURE_DIM
        self.cached_prefix = False
        self.set_trainable_blocks(config.trainable_blocks)

    @property
    def frozen(self) -> bool:
        return self.trainable_blocks == 0

    def set_trainable_blocks(self, blocks: int) -> PretrainedEfficientNet:
        """Train the last ``blocks`` blocks (and the head conv); freeze everything before."""
        n = len(self.tower._blocks)
        if not 0 <= blocks <= n:
            raise ValueError(f"trainable_blocks must be 0 to {n}, got {blocks}")
        self.trainable_blocks, self.first_trained = blocks, n - blocks
        self.tower.requires_grad_(False)
        for module in self._trained_modules():
            module.requires_grad_(True)
        return self.train(self.training)

    def freeze(self) -> PretrainedEfficientNet:
        """Stop training the tower: no gradients, BatchNorm statistics kept (eval mode)."""
        return self.set_trainable_blocks(0)

    def _trained_modules(self) -> list[nn.Module]:
        t = self.tower
        if not self.trainable_blocks:
            return []
        stem = [t._conv_stem, t._bn0] if self.first_trained == 0 else []
        return [*stem, *t._blocks[self.first_trained :], t._conv_head, t._bn1]

    def train(self, mode: bool = True) -> PretrainedEfficientNet:
        super().train(mode)
        self.tower.eval()  # the frozen parts, always; then the trained ones follow ``mode``
        for module in self._trained_modules():
            module.train(mode)
        return self

    def describe(self) -> dict[str, int | str]:
        """What trains, for the manifest: blocks and parameter counts, trained and frozen."""
        return {
            "tower": "efficientnet_lite0",
            "trainable_blocks": self.trainable_blocks,
            "blocks": len(self.tower._blocks),
            **_parameter_counts(self.tower),
        }

    def has_frozen_prefix(self) -> bool:
        """Whether anything before the trained part is frozen (the stem is, unless N = 16)."""
        return self.first_trained > 0 or self.frozen

    def use_cached_prefix(self, on: bool) -> None:
        self.cached_prefix = on

    def frozen_prefix(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels -> the output of the frozen part: the pooled features ``(B, 1280)`` when the
        whole tower is frozen, else the map entering the first trained block."""
        if self.frozen:
            return self.tower.encode_image(self._resampled(x))  # (B, 1280)
        t = self.tower
        return t.run_blocks(t.stem(self._resampled(x)), 0, self.first_trained)  # (B, C_k, ...)

    def continue_prefix(self, h: torch.Tensor, start: int) -> torch.Tensor:
        """``frozen_prefix`` from the map entering block ``start`` (at most the first trained
        one): a deeper cut already computed need not start again from pixels."""
        t = self.tower
        if start > self.first_trained:
            raise ValueError(f"block {start} is past this tower's frozen prefix")
        h = t.run_blocks(h, start, self.first_trained)
        return t.head(h).mean(dim=(2, 3)) if self.frozen else h  # (B, 1280) or the map

    def _resampled(self, x: torch.Tensor) -> torch.Tensor:
        if not self.resample_to:
            return x
        size = (self.resample_to, self.resample_to)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def _trained_part(self, h: torch.Tensor) -> torch.Tensor:
        t = self.tower
        return t.head(t.run_blocks(h, self.first_trained))  # (B, 1280, S/32, S/32)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.cached_prefix:
            if self.frozen:
                raise RuntimeError("a frozen tower's cached prefix is pooled: no feature map")
            return self._trained_part(x)
        if self.frozen or self.first_trained == 0:  # no split to make
            return self.tower.features(self._resampled(x))  # (B, 1280, S/32, S/32)
        return self._trained_part(self.frozen_prefix(x))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        if self.cached_prefix and self.frozen:
            return x  # already the pooled features (B, 1280)
        return self.features(x).mean(dim=(2, 3))


ImageEncoder = SmallCNN | PretrainedEfficientNet


def build_image_encoder(config: ImageEncoderConfig) -> ImageEncoder:
    if config.kind == "small_cnn":
        return SmallCNN(config.widths, config.pool)
    return PretrainedEfficientNet(config)


def clone_encoder(encoder: ImageEncoder) -> ImageEncoder:
    """An independent copy of an encoder, re-initialised when it trains from scratch."""
    twin = copy.deepcopy(encoder)
    if isinstance(twin, SmallCNN):
        for module in twin.modules():
            if isinstance(module, nn.Conv2d | nn.BatchNorm2d):
                module.reset_parameters()
    return twin


class LSTMTextEncoder(nn.Module):
    """Embedding + unidirectional LSTM over right-padded ids (pad id 0).

    Padding is on the right and the LSTM runs forward only, so the state at the last real token
    never saw a pad: gathering it (``pooling="last"``) or averaging the states under the mask
    (``"mean"``) gives the same vector whatever the batch's padded length. No packed sequences
    and no initial state inputs, so the ONNX graph keeps dynamic batch and sequence axes
    (onnx/onnx#3182).
    """

    def __init__(self, vocab_size: int, config: TextEncoderConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden, batch_first=True)
        self.pooling = config.pooling
        self.out_dim = config.hidden

    def sequence(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> LSTM states (B, T, H)."""
        states: torch.Tensor
        states, _ = self.lstm(self.embed(input_ids))
        return states

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Ids and mask (B, T) -> pooled text vector (B, H)."""
        states = self.sequence(input_ids)  # (B, T, H)
        mask = attention_mask.to(states.dtype).unsqueeze(-1)  # (B, T, 1)
        if self.pooling == "mean":
            return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        last = (attention_mask.sum(1) - 1).clamp(min=0)  # (B,)
        index = last.view(-1, 1, 1).expand(-1, 1, states.shape[-1])  # (B, 1, H)
        return states.gather(1, index).squeeze(1)  # (B, H)


class MiniLMTextEncoder(nn.Module):
    """all-MiniLM-L6-v2 (``training.towers.minilm``): its sentence embedding ``(B, 384)``,
    frozen or with its top ``trainable_layers`` transformer layers trained.

    Frozen layers (and the token embeddings, always) stay in eval mode, so their dropout is
    off and they compute exactly what the pretrained model does. Single-sentence inputs need
    no segment ids: ``token_type_ids`` are zeros made inside the graph, so the exported model
    takes ``input_ids`` and ``attention_mask`` only, as every text encoder here does.
    """

    pretrained_tower = True

    def __init__(self, config: TextEncoderConfig, tower: MiniLMEncoder | None = None) -> None:
        super().__init__()
        from training.towers.minilm import MiniLMEncoder

        self.tower = tower or MiniLMEncoder.pretrained()
        self.out_dim = self.tower.dim
        layers, top = list(self.tower.bert.encoder.layer), config.trainable_layers
        # A plain list, not a ModuleList: the layers are registered once, inside the tower.
        self.trained_layers = layers[len(layers) - top :] if top else []
        self.tower.requires_grad_(False)
        for layer in self.trained_layers:
            layer.requires_grad_(True)
        self.train(False)

    def train(self, mode: bool = True) -> MiniLMTextEncoder:
        super().train(mode)
        self.tower.eval()
        for layer in self.trained_layers:
            layer.train(mode)
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Ids and mask (B, T) -> unit sentence embedding (B, 384)."""
        token_type_ids = torch.zeros_like(input_ids)  # (B, T): one segment
        return self.tower.encode_text(input_ids, attention_mask, token_type_ids)

    def describe(self) -> dict[str, int | str]:
        """What trains, for the manifest: layers and parameter counts, trained and frozen."""
        return {
            "tower": "all-MiniLM-L6-v2",
            "trainable_layers": len(self.trained_layers),
            "layers": len(self.tower.bert.encoder.layer),
            **_parameter_counts(self.tower),
        }


TextEncoder = LSTMTextEncoder | MiniLMTextEncoder


def _parameter_counts(tower: nn.Module) -> dict[str, int]:
    """A tower's parameters that train (``requires_grad``) and that stay frozen."""
    trained = sum(p.numel() for p in tower.parameters() if p.requires_grad)
    return {
        "trained_parameters": trained,
        "frozen_parameters": sum(p.numel() for p in tower.parameters()) - trained,
    }


def build_text_encoder(config: TextEncoderConfig, vocab_size: int | None) -> TextEncoder:
    """MiniLM brings its own vocabulary; the LSTM's comes from the training texts."""
    if config.kind == "minilm":
        return MiniLMTextEncoder(config)
    if not vocab_size:
        raise ValueError("an LSTM text encoder needs the vocabulary size of its tokenizer")
    return LSTMTextEncoder(vocab_size, config)
