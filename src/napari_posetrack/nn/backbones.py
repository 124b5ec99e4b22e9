"""Backbones: feature extractors returning features at the configured output stride.

Registry :data:`BACKBONES` maps a name to a class built with
``cls(config: BackboneConfig, in_channels: int, output_stride: int)``; every backbone has
``out_channels`` and ``max_stride`` and maps (B, C, H, W) with H, W multiples of ``max_stride``
to (B, out_channels, H / output_stride, W / output_stride).

* ``unet``: SLEAP-style UNet (blocks of 3x3 conv + norm + ReLU, max-pool down, bilinear up with
  skips). ``norm`` is group norm by default (``none`` gives SLEAP's plain UNet).
* ``resnet``: an encoder of residual stages (ResNet basic blocks, written here: torchvision is
  not needed) with a UNet-style decoder. ``pretrained`` loads encoder weights from a local file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from ..core.errors import ConfigError
from ..core.registry import Registry

__all__ = ["BACKBONES", "register_backbone", "UNet", "ResNetUNet", "build_backbone"]

BACKBONES: Registry = Registry("backbone")  # name -> nn.Module class; a taken name is refused


def register_backbone(name: str):
    def deco(cls):
        BACKBONES[name] = cls
        return cls

    return deco


def _norm(kind: str, channels: int):
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind in ("group", "auto"):  # "auto" is resolved when training starts; group norm otherwise
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return None


def _conv_block(cin: int, cout: int, n: int, norm: str = "none") -> nn.Sequential:
    """``n`` x (3x3 conv, optional group/batch norm, ReLU)."""
    layers = []
    for i in range(n):
        nl = _norm(norm, cout)
        layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=nl is None))
        if nl is not None:
            layers.append(nl)
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _level_filters(cfg, level: int) -> int:
    return int(round(cfg.filters * cfg.filters_rate ** level))


class _Decoder(nn.Module):
    """Upsample from the deepest features to ``output_stride`` with skip connections."""

    def __init__(self, cfg, skip_channels: list[int], bottom_channels: int, max_level: int, out_level: int):
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = bottom_channels
        self.levels = list(range(max_level - 1, out_level - 1, -1))
        for lvl in self.levels:
            cout = _level_filters(cfg, lvl)
            self.blocks.append(_conv_block(cin + skip_channels[lvl], cout, cfg.convs_per_block,
                                           getattr(cfg, "norm", "none")))
            cin = cout
        self.out_channels = cin

    def forward(self, x, skips):
        for lvl, block in zip(self.levels, self.blocks):
            skip = skips[lvl]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return x


@register_backbone("unet")
class UNet(nn.Module):
    """UNet with ``down_blocks`` pooling steps; decoder stops at ``output_stride``."""

    def __init__(self, cfg, in_channels: int, output_stride: int):
        super().__init__()
        self.max_stride = 2 ** cfg.down_blocks
        self.down = nn.ModuleList()
        skip_ch = []
        cin = in_channels
        for lvl in range(cfg.down_blocks):
            cout = _level_filters(cfg, lvl)
            self.down.append(_conv_block(cin, cout, cfg.convs_per_block, cfg.norm))
            skip_ch.append(cout)
            cin = cout
        bottom = _level_filters(cfg, cfg.down_blocks)
        self.middle = _conv_block(cin, bottom, cfg.convs_per_block, cfg.norm)
        out_level = int(round(torch.log2(torch.tensor(float(output_stride))).item()))
        self.decoder = _Decoder(cfg, skip_ch, bottom, cfg.down_blocks, out_level)
        self.out_channels = self.decoder.out_channels if self.decoder.levels else bottom

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.middle(x)
        return self.decoder(x, skips)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        idt = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + idt, inplace=True)


class ResNetEncoder(nn.Module):
    """Stem at stride 1 then ``down_blocks`` stages, each halving resolution."""

    def __init__(self, cfg, in_channels: int):
        super().__init__()
        f0 = _level_filters(cfg, 0)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, f0, 3, padding=1, bias=False), nn.BatchNorm2d(f0),
                                  nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        cin = f0
        self.channels = [f0]
        for lvl in range(1, cfg.down_blocks + 1):
            cout = _level_filters(cfg, lvl)
            blocks = [BasicBlock(cin, cout, stride=2)] + [BasicBlock(cout, cout) for _ in
                                                          range(cfg.convs_per_block - 1)]
            self.stages.append(nn.Sequential(*blocks))
            self.channels.append(cout)
            cin = cout

    def forward(self, x):
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


@register_backbone("resnet")
class ResNetUNet(nn.Module):
    """Residual encoder + UNet decoder; encoder weights optionally from a local file."""

    def __init__(self, cfg, in_channels: int, output_stride: int):
        super().__init__()
        self.max_stride = 2 ** cfg.down_blocks
        self.encoder = ResNetEncoder(cfg, in_channels)
        out_level = int(round(torch.log2(torch.tensor(float(output_stride))).item()))
        self.decoder = _Decoder(cfg, self.encoder.channels, self.encoder.channels[-1], cfg.down_blocks, out_level)
        self.out_channels = self.decoder.out_channels if self.decoder.levels else self.encoder.channels[-1]
        if cfg.pretrained:
            load_encoder_weights(self.encoder, cfg.pretrained)

    def forward(self, x):
        feats = self.encoder(x)
        return self.decoder(feats[-1], feats[:-1])


def load_encoder_weights(encoder: nn.Module, path) -> dict:
    """Load a state dict (safetensors, or a tensor-only .pt) into ``encoder`` by matching names and shapes.

    Keys may carry an ``encoder.`` prefix. Returns ``{"loaded": n, "skipped": [names]}``; raises
    :class:`ConfigError` if the file cannot be read or nothing matches.
    """
    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
    except Exception as exc:  # noqa: BLE001 - any read failure is a bad file for the user
        raise ConfigError(f"Cannot read pretrained weights {p}: {exc}", path=p,
                          hint="Pass a .safetensors or tensor-only .pt state dict file.") from None
    own = encoder.state_dict()
    loaded, skipped = {}, []
    for k, v in state.items():
        key = k[len("encoder."):] if k.startswith("encoder.") else k
        if key in own and tuple(own[key].shape) == tuple(v.shape):
            loaded[key] = v
        else:
            skipped.append(k)
    if not loaded:
        raise ConfigError(f"No tensor in {p} matches the ResNet encoder (names/shapes differ).", path=p,
                          hint="Use weights saved from a backbone with the same filters and down_blocks.")
    encoder.load_state_dict(loaded, strict=False)
    return {"loaded": len(loaded), "skipped": skipped}


def build_backbone(cfg, in_channels: int, output_stride: int) -> nn.Module:
    """Build the backbone named by ``cfg.name`` from :data:`BACKBONES`."""
    if cfg.name not in BACKBONES:
        raise ConfigError(f"Unknown backbone {cfg.name!r}; known: {sorted(BACKBONES)}.",
                          hint="Set model.backbone.name to one of them.")
    return BACKBONES[cfg.name](cfg, in_channels, output_stride)
