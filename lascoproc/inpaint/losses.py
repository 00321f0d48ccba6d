"""Training losses of the inpainting network (torch): Liu et al. 2018, section 3.4, adapted.

Notation: ``y_k`` the image of network layer ``k`` (``k = 0..R``: the decoder's head and each
refinement layer, :class:`lascoproc.inpaint.model.PConvUNet`), ``t`` the truth, ``K`` the
pixels given to the network, ``O`` the observed pixels (the truth is known only there),
``H = O and not K`` the holes, ``G = dilate(H, ring) and K`` a ring of known pixels around the
holes, ``c = K t + (1 - K) y_R`` the composite. Means are over the pixels of the region named.

- pixel, per layer: ``sum_k d^(R-k) (w_valid |y_k - t|_K + w_hole |y_k - t|_H
  + w_ring |y_k - t|_G)``, ``d = layer_decay`` (Liu's L_valid and L_hole, plus a ring term
  where the seams of a fill show, for every layer);
- perceptual: ``sum_p |phi_p(y_R) - phi_p(t)| + |phi_p(c) - phi_p(t)|``;
- style: the same with Gram matrices ``phi_p phi_p^T / (C_p H_p W_p)``;
- total variation: ``|c(i, j+1) - c(i, j)| + |c(i+1, j) - c(i, j)|`` on the 1-pixel dilation of
  the holes.

Outside ``O`` all images are set to 0 before the feature extractor, so only observed pixels
contribute. Liu's weights are the defaults (valid 1, hole 6, perceptual 0.05, style 120,
TV 0.1); Liu normalises by the number of pixels of the image, these by the pixels of the
region, which is why the ring weight is new and the hole weight need not grow with the hole
size.

Feature extractor ``phi`` (perceptual and style): the ImageNet VGG-16 of the paper needs a
download and torchvision, neither available offline; its features were learned on photographs,
not coronagraph images, anyway. :class:`RandomFeatures` is a small fixed convolutional network
with random weights from a seed (three levels, 16/32/64 channels, ReLU, 2x average pooling):
random shallow filters are known to carry usable texture statistics (Ustyuzhaninov et al.
2017, "What does it take to generate natural textures?", ICLR), need no file, and are the
same on every machine. ``features="none"`` drops the two terms.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LossWeights", "FEATURE_EXTRACTORS", "RandomFeatures", "feature_extractor",
           "inpainting_loss"]

FEATURE_EXTRACTORS = ("random", "none")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (module docstring)."""

    valid: float = 1.0
    hole: float = 6.0
    ring: float = 3.0
    perceptual: float = 0.05
    style: float = 120.0
    tv: float = 0.1
    layer_decay: float = 0.5


class RandomFeatures(nn.Module):
    """A fixed random-weight feature extractor (module docstring); not trained, not saved."""

    def __init__(self, seed: int = 0, channels: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        generator = torch.Generator().manual_seed(int(seed))
        layers = []
        previous = 1
        for c in channels:
            conv = nn.Conv2d(previous, c, 3, padding=1, padding_mode="reflect")
            fan_in = previous * 9
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator)
                                  * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
            layers.append(conv)
            previous = c
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, conv in enumerate(self.layers):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            out.append(x)
        return out


def feature_extractor(kind: str, seed: int = 0) -> RandomFeatures | None:
    """The extractor named by ``kind`` (:data:`FEATURE_EXTRACTORS`), or ``None``."""
    if kind == "random":
        return RandomFeatures(seed)
    if kind == "none":
        return None
    raise ValueError(f"feature extractor must be one of {FEATURE_EXTRACTORS}, not {kind!r}")


def _masked_mean(values: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    return (values * region).sum() / region.sum().clamp(min=1.0)


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return mask
    return F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)


def _gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def inpainting_loss(outputs: list[torch.Tensor], truth: torch.Tensor, known: torch.Tensor,
                    observed: torch.Tensor, *, weights: LossWeights = LossWeights(),
                    features: nn.Module | None = None, ring: int = 4
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its terms (module docstring). All tensors ``(N, 1, H, W)``; masks 0/1."""
    truth, known, observed = truth.float(), known.float(), observed.float()
    holes = observed * (1.0 - known)
    seam = _dilate(holes, ring) * known
    terms: dict[str, torch.Tensor] = {}
    pixel = truth.new_zeros(())
    last = len(outputs) - 1
    for k, y in enumerate(outputs):
        err = (y.float() - truth).abs()
        layer = (weights.valid * _masked_mean(err, known)
                 + weights.hole * _masked_mean(err, holes)
                 + weights.ring * _masked_mean(err, seam))
        pixel = pixel + weights.layer_decay ** (last - k) * layer
        if k == last:
            terms["hole"] = _masked_mean(err, holes)
            terms["ring"] = _masked_mean(err, seam)
            terms["valid"] = _masked_mean(err, known)
    total = pixel
    out = outputs[-1].float()
    comp = known * truth + (1.0 - known) * out
    if features is not None:
        f_true = features(truth * observed)
        f_out = features(out * observed)
        f_comp = features(comp * observed)
        perceptual = truth.new_zeros(())
        style = truth.new_zeros(())
        for ft, fo, fc in zip(f_true, f_out, f_comp, strict=True):
            perceptual = perceptual + (fo - ft).abs().mean() + (fc - ft).abs().mean()
            g_true = _gram(ft)
            style = style + (_gram(fo) - g_true).abs().mean() + (_gram(fc) - g_true).abs().mean()
        terms["perceptual"], terms["style"] = perceptual, style
        total = total + weights.perceptual * perceptual + weights.style * style
    region = _dilate(holes, 1)
    dx = (comp[..., :, 1:] - comp[..., :, :-1]).abs()
    dy = (comp[..., 1:, :] - comp[..., :-1, :]).abs()
    rx = region[..., :, 1:] * region[..., :, :-1]
    ry = region[..., 1:, :] * region[..., :-1, :]
    tv = (dx * rx).sum() / rx.sum().clamp(min=1.0) + (dy * ry).sum() / ry.sum().clamp(min=1.0)
    terms["tv"] = tv
    total = total + weights.tv * tv
    terms["total"] = total
    return total, {name: float(value.detach()) for name, value in terms.items()}
