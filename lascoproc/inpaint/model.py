"""The partial-convolution U-Net (Liu et al. 2018) for coronagraph images (torch).

Partial convolution (Liu, Reda, Shih, Wang, Tao, Catanzaro 2018, "Image Inpainting for Irregular
Holes Using Partial Convolutions", ECCV, eq. 1-2): with ``X`` the features and ``M`` the binary
mask (1 = known) under the sliding window::

    x' = W^T (X * M) * sum(1) / sum(M) + b     if sum(M) > 0,   else 0
    m' = 1                                      if sum(M) > 0,   else 0

``sum(1)`` and ``sum(M)`` are taken over the whole window, all input channels included. Masks
are carried per *group* of channels (one mask for the image, one per concatenated skip
connection), which gives Liu's multi-channel mask result without storing a mask per channel:
``sum(M) = sum_g C_g * (window sum of m_g)`` and ``sum(1) = (sum_g C_g) * k * k``.

Network (:class:`PConvUNet`), sizes from :class:`ModelConfig`:

- encoder: ``depth`` partial convolutions of stride 2 (first kernel ``first_kernel``, then 3),
  ``width * 2^i`` channels capped at ``max_width``, ReLU;
- decoder: per level, nearest-neighbour upsampling of features and mask, concatenation with the
  encoder's features (or, at full resolution, the input image) and their masks, a 3 x 3 partial
  convolution, LeakyReLU(0.2) (Liu's U-Net);
- with ``prior`` (default ``"biharmonic"``), the classical fill of the holes
  (:mod:`lascoproc.inpaint.fallback`) is a second input channel group (its mask: known pixels
  and holes) and the decoder's head predicts a correction to it, ``y_0 = prior + head(f)``,
  with the head initialised to zero: an untrained network returns the classical fill, and
  training learns where and how to correct it. This is the coarse-to-fine design
  of two-stage inpainting (a coarse fill, then a refinement network; Yu et al. 2018, CVPR),
  with the coarse stage classical. It converges in the minutes of CPU that the shipped model
  could be given; ``prior="none"`` is Liu's network unchanged, for a GPU-sized training run;
- ``refine`` refinement layers at full resolution: each a 3 x 3 partial convolution
  (``refine_width`` channels) of the previous features and image, LeakyReLU(0.2), and a 1 x 1
  head adding a correction to the image, ``y_r = y_(r-1) + head_r(f_r)``. Every ``y_r``
  (``y_0`` from the decoder's head) is returned, so training can score each layer (per-layer
  losses, as the CorKit paper trains its L layers).

No batch normalisation (Liu uses it): inputs are normalised per image
(:mod:`lascoproc.inpaint.normalise`) and inference sees full frames where training sees tiles,
so batch statistics would differ between the two. The network is fully convolutional: it
trains on tiles and runs on 1024 x 1024 frames (any size; :func:`pad_to_multiple` pads to a
multiple of ``2^depth`` with masked pixels).

Input: ``(N, 1, H, W)`` normalised image (anything in the holes) and ``(N, 1, H, W)`` mask
(and the prior with its mask).
Output: the list ``[y_0, ..., y_refine]`` of ``(N, 1, H, W)`` images and the final mask
(0 where no known pixel lies within the receptive field).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PRIORS", "ModelConfig", "PartialConv2d", "PConvUNet", "pad_to_multiple"]

#: Classical fills the network can start from (``ModelConfig.prior``).
PRIORS = ("none", "biharmonic", "harmonic")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What the network *is* (hashable; stored in every weights file).

    Attributes
    ----------
    depth
        Encoder levels; each halves the resolution (frames are padded to ``2^depth``).
    width
        Channels of the first level; doubled per level up to ``max_width``.
    max_width
        Channel cap.
    refine
        Refinement layers at full resolution after the decoder.
    refine_width
        Channels of the refinement layers.
    first_kernel
        Kernel size of the first encoder layer (odd).
    prior
        ``"none"``: Liu's network, the image is predicted from the known pixels alone.
        ``"biharmonic"`` or ``"harmonic"``: the classical fill of the holes
        (:mod:`lascoproc.inpaint.fallback`) is a second input, and the network predicts a
        correction to it (module docstring).
    """

    depth: int = 5
    width: int = 16
    max_width: int = 128
    refine: int = 2
    refine_width: int = 8
    first_kernel: int = 5
    prior: str = "biharmonic"

    def __post_init__(self):
        if (self.depth < 1 or self.width < 1 or self.max_width < 1 or self.refine < 0
                or self.refine_width < 1 or self.first_kernel % 2 != 1
                or self.prior not in PRIORS):
            raise ValueError(f"invalid model configuration {self}")

    @property
    def inputs(self) -> tuple[int, ...]:
        """Input channel groups: the image, and the classical fill when there is a prior."""
        return (1,) if self.prior == "none" else (1, 1)

    def channels(self) -> list[int]:
        """Channels of encoder level ``i``."""
        return [min(self.width * 2 ** i, self.max_width) for i in range(self.depth)]

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class PartialConv2d(nn.Module):
    """Partial convolution (module docstring) over channel groups with one mask each.

    Parameters
    ----------
    groups
        Channels of each input group, in order; the mask tensor has one channel per group.
    out_channels, kernel_size, stride
        As :class:`torch.nn.Conv2d` (padding ``kernel_size // 2``).
    """

    def __init__(self, groups: Sequence[int], out_channels: int, kernel_size: int,
                 stride: int = 1, bias: bool = True):
        super().__init__()
        self.groups = tuple(int(g) for g in groups)
        self.in_channels = sum(self.groups)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.padding = self.kernel_size // 2
        self.conv = nn.Conv2d(self.in_channels, out_channels, self.kernel_size, self.stride,
                              self.padding, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.register_buffer("window", torch.ones(1, 1, self.kernel_size, self.kernel_size),
                             persistent=False)
        self.register_buffer("group_size",
                             torch.tensor(self.groups, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.volume = float(self.in_channels * self.kernel_size ** 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, premasked: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x', m')`` of ``x`` ``(N, sum(groups), H, W)`` and ``mask`` ``(N, len(groups), H,
        W)``. ``premasked=True`` when ``x`` is already 0 wherever its group's mask is 0 (true
        of every partial convolution's output and its ReLU), which skips ``X * M``."""
        if mask.shape[1] != len(self.groups):
            raise ValueError(f"mask has {mask.shape[1]} channels for {len(self.groups)} groups")
        with torch.autocast(device_type=x.device.type, enabled=False):
            m = mask.float()
            n, g, h, w = m.shape
            counts = F.conv2d(m.reshape(n * g, 1, h, w), self.window, stride=self.stride,
                              padding=self.padding)
            counts = counts.reshape(n, g, *counts.shape[-2:])
            known = (counts * self.group_size).sum(dim=1, keepdim=True)  # sum(M)
            new_mask = (known > 0).float()
            ratio = self.volume / known.clamp(min=1.0) * new_mask  # sum(1) / sum(M)
        if not premasked:
            parts = torch.split(x, self.groups, dim=1)
            x = torch.cat([p * m[:, i:i + 1].to(p.dtype) for i, p in enumerate(parts)], dim=1)
        out = self.conv(x)
        out = out * ratio.to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype) * new_mask.to(out.dtype)
        return out, new_mask


def _up(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=2.0, mode="nearest")


class PConvUNet(nn.Module):
    """Partial-convolution U-Net with refinement layers (module docstring)."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        ch = config.channels()
        self.encoder = nn.ModuleList()
        inputs = config.inputs
        for i, c in enumerate(ch):
            k = config.first_kernel if i == 0 else 3
            groups = inputs if i == 0 else (ch[i - 1],)
            self.encoder.append(PartialConv2d(groups, c, k, stride=2))
        previous = ch[-1]
        self.decoder = nn.ModuleList()
        for i in reversed(range(config.depth)):
            # the skip is encoder level i-1, or at full resolution the input(s)
            skip = (ch[i - 1],) if i > 0 else inputs
            out = ch[i - 1] if i > 0 else config.width
            self.decoder.append(PartialConv2d((previous, *skip), out, 3))
            previous = out
        self.head = nn.Conv2d(config.width, 1, 1)
        self.refiners = nn.ModuleList()
        for _ in range(config.refine):
            self.refiners.append(PartialConv2d((previous, 1), config.refine_width, 3))
            previous = config.refine_width
        self.refine_heads = nn.ModuleList(nn.Conv2d(config.refine_width, 1, 1)
                                          for _ in range(config.refine))
        # refinement starts as the identity; with a prior, so does the whole network
        heads = list(self.refine_heads) + ([self.head] if config.prior != "none" else [])
        for head in heads:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this (``2^depth``)."""
        return 2 ** self.config.depth

    def forward(self, image: torch.Tensor, mask: torch.Tensor, prior: torch.Tensor | None = None,
                prior_mask: torch.Tensor | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``image`` and ``mask`` ``(N, 1, H, W)``; with a prior configured, also the classical
        fill ``prior`` and where it is defined, ``prior_mask`` (known pixels and holes)."""
        if image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise ValueError(f"input size {tuple(image.shape[-2:])} is not a multiple of "
                             f"{self.multiple}; pad it (pad_to_multiple)")
        with_prior = self.config.prior != "none"
        if with_prior and (prior is None or prior_mask is None):
            raise ValueError(f"this network refines a {self.config.prior} fill: pass prior "
                             "and prior_mask")
        image = image * mask.to(image.dtype)  # from here on every tensor is 0 where masked
        if with_prior:
            prior = prior * prior_mask.to(prior.dtype)
            image = torch.cat([image, prior], dim=1)
            mask = torch.cat([mask, prior_mask], dim=1)
        feats, masks = [image], [mask]
        h, m = image, mask
        for layer in self.encoder:
            h, m = layer(h, m, premasked=True)
            h = F.relu(h)
            feats.append(h)
            masks.append(m)
        for j, layer in enumerate(self.decoder):
            level = self.config.depth - 1 - j  # the skip comes from feats[level]
            h = torch.cat([_up(h), feats[level]], dim=1)
            m = torch.cat([_up(m), masks[level]], dim=1)
            h, m = layer(h, m, premasked=True)
            h = F.leaky_relu(h, 0.2)
        y = self.head(h)
        if with_prior:
            y = y + prior
        outputs = [y]
        for refiner, head in zip(self.refiners, self.refine_heads, strict=True):
            h, m = refiner(torch.cat([h, y * m.to(y.dtype)], dim=1), torch.cat([m, m], dim=1),
                           premasked=True)
            h = F.leaky_relu(h, 0.2)
            y = y + head(h)
            outputs.append(y)
        return outputs, m


def pad_to_multiple(image: torch.Tensor, mask: torch.Tensor, multiple: int
                    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Pad ``(N, C, H, W)`` image and mask at the bottom/right to multiples of ``multiple``;
    the padding is masked (0). Returns the padded pair and the original ``(H, W)``."""
    h, w = image.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph))
        mask = F.pad(mask, (0, pw, 0, ph))
    return image, mask, (h, w)
