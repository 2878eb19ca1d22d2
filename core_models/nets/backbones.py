"""ResNet + FPN backbones of the COVID-CT-Mask-Net family.

Two shapes, both returning an ``OrderedDict`` of 256-channel feature maps
keyed ``"0"``, ``"1"``, ... from finest to coarsest:

- *light*: ResNet18/34 cut after ``layer4`` (truncation 0, 512 channels,
  stride 32), ``layer3`` (truncation 1, 256 channels, stride 16) or
  ``layer2`` (truncation 2, 128 channels, stride 8), feeding a one-level FPN;
- *full*: ResNet50 with a four-level FPN over ``layer1``..``layer4``
  (strides 4, 8, 16, 32), without the extra max-pool level.

Both are built from :class:`torchvision.models._utils.IntermediateLayerGetter`
and :class:`torchvision.ops.FeaturePyramidNetwork` with ``extra_blocks=None``
(torchvision's ``BackboneWithFPN`` always adds a pooled level, which breaks
a one-level anchor generator). State-dict names are ``body.*`` and ``fpn.*``
as in torchvision and the seed.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torchvision.models import resnet18, resnet34, resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d

from core_models.errors import ModelError

NORMS = ("batch", "frozen_batch", "group")
LIGHT_BACKBONES = {"resnet18": resnet18, "resnet34": resnet34}
#: truncation -> (last ResNet layer kept, its channel count) for ResNet18/34
TRUNCATIONS = {0: ("layer4", 512), 1: ("layer3", 256), 2: ("layer2", 128)}
FPN_CHANNELS = 256


def group_norm(num_channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with up to ``max_groups`` groups that divide ``num_channels``."""
    groups = math.gcd(num_channels, max_groups)
    return nn.GroupNorm(groups, num_channels)


def norm_layer_factory(norm: str) -> Callable[[int], nn.Module]:
    """Normalisation layer constructor for ``norm`` in :data:`NORMS`.

    ``"batch"`` (the seed's choice) learns running statistics; ``"frozen_batch"``
    keeps them fixed (torchvision's default for pretrained detectors);
    ``"group"`` needs no batch statistics and trains better from scratch at
    batch size 1-2.
    """
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "frozen_batch":
        return FrozenBatchNorm2d
    if norm == "group":
        return partial(group_norm, max_groups=32)
    raise ModelError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


class ResNetFPN(nn.Module):
    """A ResNet body whose chosen layers feed a Feature Pyramid Network.

    Parameters
    ----------
    body : IntermediateLayerGetter
        Returns the chosen ResNet layers keyed ``"0"``, ``"1"``, ...
    in_channels_list : list of int
        Channels of each returned layer, finest first.
    out_channels : int
        Channels of every FPN output map (256).
    """

    def __init__(self, body: IntermediateLayerGetter, in_channels_list: list[int], out_channels: int = FPN_CHANNELS,
                 skip_channels: dict[str, int] | None = None):
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(in_channels_list, out_channels, extra_blocks=None)
        self.out_channels = out_channels
        self.num_levels = len(in_channels_list)
        #: body outputs kept out of the FPN (finer ResNet maps for a dense head), name -> channels
        self.skip_channels = dict(skip_channels or {})

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Feature maps keyed ``"0"`` (finest) ... for a normalised image batch ``x``."""
        return self.features_and_skips(x)[0]

    def features_and_skips(self, x: torch.Tensor) -> tuple[OrderedDict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """FPN maps and the skip maps (finer ResNet layers, empty without skips)."""
        maps = self.body(x)
        skips = {name: maps.pop(name) for name in self.skip_channels}
        return self.fpn(maps), skips


#: ResNet18/34 layers offered as skips to a dense head: name -> (layer, channels, stride)
LIGHT_SKIPS = {"s4": ("layer1", 64, 4), "s8": ("layer2", 128, 8)}


def light_resnet_fpn(backbone: str = "resnet18", truncation: int = 1, norm: str = "batch",
                     skips: bool = False) -> ResNetFPN:
    """Truncated ResNet18/34 with a one-level FPN (the seed's lightweight backbone).

    Parameters
    ----------
    backbone : {"resnet18", "resnet34"}
    truncation : {0, 1, 2}
        0 keeps ``layer4`` (512 ch, stride 32), 1 stops after ``layer3``
        (256 ch, stride 16), 2 after ``layer2`` (128 ch, stride 8).
    norm : {"batch", "frozen_batch", "group"}
    skips : bool
        Also return ``layer1`` (stride 4) and ``layer2`` (stride 8) as skip
        maps for a dense head (those finer than the kept layer).
    """
    if backbone not in LIGHT_BACKBONES:
        raise ModelError(f"light backbone must be one of {', '.join(LIGHT_BACKBONES)}, got {backbone!r}")
    if truncation not in TRUNCATIONS:
        raise ModelError(f"truncation must be 0, 1 or 2, got {truncation!r}")
    layer, channels = TRUNCATIONS[truncation]
    resnet = LIGHT_BACKBONES[backbone](weights=None, norm_layer=norm_layer_factory(norm))
    chosen = {name: spec for name, spec in LIGHT_SKIPS.items() if skips and spec[0] < layer}
    return_layers = {spec[0]: name for name, spec in chosen.items()}
    return_layers[layer] = "0"
    body = IntermediateLayerGetter(resnet, return_layers=return_layers)
    return ResNetFPN(body, [channels], skip_channels={name: spec[1] for name, spec in chosen.items()})


def resnet50_fpn(norm: str = "batch") -> ResNetFPN:
    """ResNet50 with a four-level FPN over ``layer1``..``layer4`` and no pooled level."""
    resnet = resnet50(weights=None, norm_layer=norm_layer_factory(norm))
    layers = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
    body = IntermediateLayerGetter(resnet, return_layers=layers)
    return ResNetFPN(body, [256, 512, 1024, 2048])
