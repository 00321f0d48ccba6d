"""The polar residual network: a small U-Net that corrects the radial fill of each hole (torch).

Input: a batch of polar patches (:mod:`lascoproc.inpaint.patches`), 5 channels: standardised
known values, known mask, standardised radial fill (the prior), usable mask, standardised
tangential fill. Output: one channel,
the correction ``rho`` to the standardised prior; a hole pixel becomes ``prior + sigma * rho``
with ``rho`` read back bilinearly at the pixel's polar coordinates (:func:`read_back`).

With ``smooth=True`` (:class:`PatchNetConfig`) a sixth input channel holds the smooth isotropic
fill (:func:`lascoproc.inpaint.patches.smooth_prior`) and a second output channel ``a`` chooses,
pixel by pixel, between the two priors: the standardised fill is
``radial + sigmoid(a) (smooth - radial) + rho``. The radial fill wins on fine radial structure,
the smooth one in noise and smooth stray light; a fixed mix of the two cannot do both
(``bench/inpaint_stack_bound.py``). An untrained network (zero head) returns their mean.
Trained once on a CPU, it did not beat the shipped network on real scenes and is not shipped
(docs/inpainting.md, section 4).

Architecture (:class:`PatchNetConfig`; sizes are the defaults):

- ``pixel_unshuffle(2)``: 5 channels at full resolution become 20 at half resolution (no
  information is lost, and nothing runs at full resolution);
- half resolution: two 3 x 3 convolutions to ``widths[0]`` channels, LeakyReLU(0.1) (skip);
- quarter resolution: a stride-2 3 x 3 convolution to ``widths[1]``, then ``depth`` 3 x 3
  convolutions;
- back at half resolution: nearest upsampling, a 3 x 3 convolution to ``widths[0]``, plus the
  skip, LeakyReLU, one more 3 x 3 convolution, a 3 x 3 head to 4 channels and
  ``pixel_shuffle(2)`` to one channel at full resolution (two with ``smooth``). The head starts
  at zero, so an untrained network returns the radial fill (the mean of the two priors with
  ``smooth``).

The receptive field (:meth:`PolarResidualNet.receptive_field`) is computed from this layer list
with the usual recursion (``rf += (k - 1) jump; jump *= stride``; an upsampling or shuffle by
``f`` divides ``jump`` by ``f`` and adds ``(f - 1) jump``, an upper bound); the patch context is
its radius plus one pixel for the bilinear read-back (:attr:`PolarResidualNet.context`), and a
test checks that no input outside it changes a hole's output. No batch normalisation: patches
are standardised one by one, and a patch's output must not depend on the others in its batch.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchNetConfig", "PolarResidualNet", "read_back", "batch_patches",
           "MODEL_KIND"]

MODEL_KIND = "polar_residual"
#: What the network may correct (:attr:`PatchNetConfig.prior`).
PRIORS = ("polar", "cartesian")


@dataclasses.dataclass(frozen=True)
class PatchNetConfig:
    """What the network *is* (hashable; stored in every weights file).

    Attributes
    ----------
    widths
        Channels at half and quarter resolution.
    depth
        3 x 3 convolutions at quarter resolution after the stride-2 one.
    prior
        The fill the network corrects: ``"polar"``, the radial interpolation of the patch
        itself, read back with the correction; ``"cartesian"``, the radial fill of the frame
        (:func:`lascoproc.kernels.inpaint_radial.radial_fill`) at the hole pixels, to which
        the read-back correction is added (no resampling of the prior: fine rays stay sharp).
    smooth
        Also see the smooth isotropic fill and choose between it and the radial one per pixel
        (module docstring); with ``prior="polar"`` only.
    """

    widths: tuple[int, int] = (24, 32)
    depth: int = 2
    prior: str = "polar"
    smooth: bool = False

    def __post_init__(self):
        if (len(self.widths) != 2 or min(self.widths) < 1 or self.depth < 0
                or self.prior not in PRIORS or (self.smooth and self.prior != "polar")):
            raise ValueError(f"invalid patch network configuration {self}")

    @property
    def inputs(self) -> int:
        """Input channels of the network."""
        return 6 if self.smooth else 5

    @property
    def outputs(self) -> int:
        """Output channels: ``rho``, and the prior's choice ``a`` with ``smooth``."""
        return 2 if self.smooth else 1

    def as_dict(self) -> dict:
        return {"widths": list(self.widths), "depth": self.depth, "prior": self.prior,
                "smooth": self.smooth}

    @classmethod
    def from_dict(cls, data: dict) -> PatchNetConfig:
        return cls(widths=tuple(int(w) for w in data["widths"]), depth=int(data["depth"]),
                   prior=str(data.get("prior", "polar")),
                   smooth=bool(data.get("smooth", False)))


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class PolarResidualNet(nn.Module):
    """Module docstring."""

    multiple = 4  # unshuffle by 2, then one stride-2 level

    def __init__(self, config: PatchNetConfig = PatchNetConfig()):
        super().__init__()
        self.config = config
        self.inputs = config.inputs
        w0, w1 = config.widths
        self.fine = nn.ModuleList([_conv(4 * self.inputs, w0), _conv(w0, w0)])
        self.down = _conv(w0, w1, stride=2)
        self.coarse = nn.ModuleList([_conv(w1, w1) for _ in range(config.depth)])
        self.up = _conv(w1, w0)
        self.merge = _conv(w0, w0)
        self.head = _conv(w0, 4 * config.outputs)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def layers(self) -> list[tuple[str, int, int]]:
        """The deepest path as ``(kind, kernel or factor, stride)``: for the receptive field."""
        path = [("unshuffle", 2, 2), ("conv", 3, 1), ("conv", 3, 1), ("conv", 3, 2)]
        path += [("conv", 3, 1)] * self.config.depth
        path += [("up", 2, 2), ("conv", 3, 1), ("conv", 3, 1), ("conv", 3, 1),
                 ("shuffle", 2, 2)]
        return path

    def receptive_field(self) -> int:
        """Receptive field (pixels of the patch, an upper bound) of one output pixel."""
        rf, jump = 1.0, 1.0
        for kind, k, s in self.layers():
            if kind in ("conv", "unshuffle"):
                rf += (k - 1) * jump
                jump *= s
            else:  # nearest upsampling / pixel shuffle by k
                jump /= k
                rf += (k - 1) * jump
        return int(np.ceil(rf))

    @property
    def context(self) -> int:
        """Patch pixels needed on each side of a hole: the receptive-field radius plus one for
        the bilinear read-back."""
        return (self.receptive_field() + 1) // 2 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` patches (``H``, ``W`` multiples of 4; ``C`` 5, or 6 with ``smooth``)
        to ``(N, 1, H, W)`` ``rho`` (``(N, 2, H, W)``, ``rho`` and ``a``, with ``smooth``)."""
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"patch size {tuple(x.shape[-2:])} is not a multiple of "
                             f"{self.multiple}")
        h = F.pixel_unshuffle(x, 2)
        for conv in self.fine:
            h = F.leaky_relu(conv(h), 0.1)
        skip = h
        h = F.leaky_relu(self.down(h), 0.1)
        for conv in self.coarse:
            h = F.leaky_relu(conv(h), 0.1)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = F.leaky_relu(self.up(h) + skip, 0.1)
        h = F.leaky_relu(self.merge(h), 0.1)
        return F.pixel_shuffle(self.head(h), 2)


def batch_patches(images: list[np.ndarray]) -> np.ndarray:
    """Stack ``(C, h, w)`` patches into ``(N, C, H, W)``, zero-padded at the bottom/right to
    the largest (padding is neither known nor usable; it lies beyond every hole's context)."""
    rows = max(p.shape[1] for p in images)
    cols = max(p.shape[2] for p in images)
    out = np.zeros((len(images), images[0].shape[0], rows, cols), np.float32)
    for k, p in enumerate(images):
        out[k, :, :p.shape[1], :p.shape[2]] = p
    return out


def _sample(a: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    _, _, h, w = a.shape
    gx = 2.0 * cols / max(w - 1, 1) - 1.0
    gy = 2.0 * rows / max(h - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[:, None].to(a.dtype)
    return F.grid_sample(a, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=True)[:, 0, 0]


def read_back(image: torch.Tensor, rho: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
              prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The corrected standardised fill at patch coordinates ``rows``/``cols`` ``(N, P)``,
    bilinear over the usable patch pixels, weights renormalised over them (``grid_sample``,
    ``align_corners=True``); ``image`` is the network's input ``(N, 5, H, W)``.

    Without ``prior``: ``prior_patch + rho`` read back (the polar prior, channel 2); with a
    smooth network (``image`` of 6 channels, ``rho`` of 2: ``rho`` and ``a``)
    ``radial + sigmoid(a) (smooth - radial) + rho`` read back. With
    ``prior`` ``(N, P)``, the standardised prior at the points: ``prior + rho`` read back.
    Returns ``(value, reached)``, ``(N, P)``; ``reached`` is False where no usable patch
    pixel surrounds the point (value 0 there)."""
    usable = image[:, 3:4]
    if rho.shape[1] == 2:
        radial = image[:, 2:3]
        rho = radial + torch.sigmoid(rho[:, 1:2]) * (image[:, 5:6] - radial) + rho[:, 0:1]
    elif prior is None:
        rho = image[:, 2:3] + rho
    fill = rho * usable
    num = _sample(fill, rows, cols)
    den = _sample(usable, rows, cols)
    reached = den > 1.0e-6
    value = num / den.clamp(min=1.0e-6)
    if prior is not None:
        value = value + prior
    return torch.where(reached, value, torch.zeros_like(num)), reached
