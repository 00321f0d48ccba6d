"""The auto-calibration CNNs (Dos Santos et al. 2021) and their weights files.

Networks (:class:`~lascoproc.degradation.config.Architecture`)::

    x [DN/s] -> InputScaling -> conv(k) -> ReLU -> maxpool(p) -> conv(k) -> ReLU -> maxpool(p)
             -> dense -> alpha_max * sigmoid -> alpha (one per channel)

:class:`MultiChannelCNN` sees all channels at once (``width`` then ``2 * width`` filters);
:class:`SingleChannelCNN` is one such network per channel, each seeing only its own channel,
evaluated together as a grouped convolution (``groups = channels``) and a per-channel dense
layer. :class:`InputScaling` holds the fixed per-channel scaling, so a model is always fed
physical DN/s and preprocesses exactly as it was trained.

Weights files are ``torch.save`` of a plain dictionary, read with
``torch.load(..., weights_only=True)`` (no code is unpickled)::

    format          "lascoproc.degradation.cnn"
    format_version  1
    config          ModelConfig as JSON (preprocessing, architecture, augmentation, split)
    state_dict      the network's tensors
    training        JSON: what it was trained on, how long, the command, its evaluation

The shipped files (:data:`SHIPPED`) are pinned by SHA-256 and refused if they differ; a user's
file is hashed on load and its name and hash go into the outputs' attributes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lascoproc.degradation.config import Architecture, ModelConfig, Preprocessing
from lascoproc.kernels.aia_degradation import disk_mask

__all__ = [
    "WEIGHTS_FORMAT",
    "SHIPPED",
    "DEFAULT_MODEL",
    "InputScaling",
    "MultiChannelCNN",
    "SingleChannelCNN",
    "build_network",
    "Ensemble",
    "member_outputs",
    "predict",
    "predict_members",
    "DegradationModel",
    "load_model",
    "save_model",
    "resolve_model_path",
]

WEIGHTS_FORMAT = "lascoproc.degradation.cnn"
FORMAT_VERSION = 1

_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """A weights file shipped in ``lascoproc/degradation/weights/``."""

    filename: str
    sha256: str
    summary: str

    @property
    def path(self) -> Path:
        return _WEIGHTS_DIR / self.filename


#: The shipped model: the default recipe (the ``fast`` preset) trained for 10 minutes on the
#: project's synthetic SDOML store (``lascoproc.testing.sdoml_family`` member ``project``;
#: docs/aia_degradation.md, "The shipped model"). A model learns the Sun of the archive it was
#: trained on: this one is for the project's synthetic stores (tests, demo, notebook); on the
#: real archive, train on the real archive.
SHIPPED: dict[str, ShippedModel] = {
    "default": ShippedModel(
        filename="sdoml_project_fast_v3.pt",
        sha256="729339d821704c5ec9a7d754b9da6c4d31b6b2f1cd47741c9f26ea81a4f08c5f",
        summary="level-and-shape network (fast preset: 64x64 input, quiet-Sun level and "
                "dimming-free shapes, flips and rotations); trained 10 min on 2 CPU cores on "
                "the project's synthetic SDOML store (512x512, 30-day cadence, seed 0), "
                "reference 2010-05-13 .. 2012-05-12 (docs/aia_degradation.md)",
    ),
}

#: The model used when none is given.
DEFAULT_MODEL = "default"


# --------------------------------------------------------------------------- networks
class InputScaling(nn.Module):
    """``x / scale`` per channel (``linear``) or ``log10(max(x / scale, floor))`` (``log``)."""

    def __init__(self, prep: Preprocessing):
        super().__init__()
        if prep.scaling is None:
            raise ValueError("the preprocessing has no scaling yet (Preprocessing.with_scaling)")
        scale = torch.tensor(prep.scaling, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("scale", scale)
        self.log = prep.transform == "log"
        self.floor = float(prep.floor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x / self.scale
        if self.log:
            y = torch.log10(torch.clamp(y, min=self.floor))
        return y


def _feature_size(prep: Preprocessing, arch: Architecture) -> int:
    """Positions per feature map reaching the dense layer (1 for the ``mean`` head).

    ``same`` padding: the size must divide by ``pool`` twice; ``valid`` padding (the paper's
    Autocalibration6): each convolution loses ``kernel - 1`` pixels and each pooling floors,
    as ``nn.MaxPool2d`` does (256 -> 254 -> 84 -> 82 -> 27 for kernel 3 and pool 3).
    """
    side = prep.size
    for _ in range(2):
        if arch.padding == "valid":
            side = (side - arch.kernel + 1) // arch.pool
            if side < 1:
                raise ValueError(f"input size {prep.size} is too small for two valid "
                                 f"convolutions of {arch.kernel} and pools of {arch.pool}")
            continue
        if side % arch.pool:
            raise ValueError(f"input size {prep.size} is not divisible by pool {arch.pool} twice")
        side //= arch.pool
    return 1 if arch.head == "mean" else side * side


def _pad(arch: Architecture) -> int:
    return arch.kernel // 2 if arch.padding == "same" else 0


def _head_input(z: torch.Tensor, head: str) -> torch.Tensor:
    return z.mean(dim=(-2, -1)) if head == "mean" else z.flatten(-3)


class MultiChannelCNN(nn.Module):
    """One network over all channels: ``(N, C, s, s) -> (N, C)`` dimming factors."""

    def __init__(self, prep: Preprocessing, arch: Architecture):
        super().__init__()
        c, w, k = len(prep.channels), arch.width, arch.kernel
        self.scaling = InputScaling(prep)
        self.features = nn.Sequential(
            nn.Conv2d(c, w, k, padding=_pad(arch)), nn.ReLU(), nn.MaxPool2d(arch.pool),
            nn.Conv2d(w, 2 * w, k, padding=_pad(arch)), nn.ReLU(), nn.MaxPool2d(arch.pool),
        )
        self.dense = nn.Linear(2 * w * _feature_size(prep, arch), c)
        self.alpha_max = float(arch.alpha_max)
        self.head = arch.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = _head_input(self.features(self.scaling(x)), self.head)
        return self.alpha_max * torch.sigmoid(self.dense(z))


class DiskLevel(nn.Module):
    """Each channel's quiet-Sun level: the median of its pixels within ``limit`` solar radii.

    ``(N, C, s, s) -> (N, C)``. Active regions cover a small part of the disk, so the median
    follows the quiet Sun (the non-ML baseline's statistic,
    :func:`lascoproc.kernels.aia_degradation.quiet_sun_level`).
    """

    def __init__(self, prep: Preprocessing, limit: float = 0.9):
        super().__init__()
        mask = disk_mask(prep.size, prep.radius_px, limit=limit)
        self.register_buffer("index", torch.from_numpy(np.flatnonzero(mask.ravel())))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x.flatten(-2).index_select(-1, self.index)
        return pixels.median(dim=-1).values


class RadialProfile(nn.Module):
    """The mean of each channel in ``bins`` rings of equal width, centre to corner.

    ``(N, C, s, s) -> (N, C * bins)``, a fixed averaging matrix (no weights).
    """

    def __init__(self, size: int, bins: int):
        super().__init__()
        centre = (size - 1) / 2.0
        yy, xx = np.indices((size, size), dtype=np.float64)
        r = np.hypot(yy - centre, xx - centre).ravel()
        which = np.minimum((r / (r.max() + 1e-9) * bins).astype(int), bins - 1)
        weights = np.zeros((size * size, bins), dtype=np.float32)
        weights[np.arange(r.size), which] = 1.0
        weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1.0)
        self.register_buffer("weights", torch.from_numpy(weights))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(-2) @ self.weights).flatten(-2)


class LevelShapeCNN(nn.Module):
    """Dimming from the quiet-Sun level, corrected by what the frame's shapes say of the Sun.

    Instrument dimming multiplies every pixel of a channel by the same factor; the Sun changes
    the *shapes* of the channels' images (coronal holes, active regions, the corona's scale
    height with its temperature) as well as their levels. The network therefore takes two
    inputs that separate the two:

    - the level ``L_c`` of each channel (:class:`DiskLevel`) over its reference level ``S_c``
      (the mean level of the training frames, frozen as the model's scaling);
    - the shapes ``log10(max(x / L_c, floor))``, which dimming does not change (up to noise),
      seen by ``conv(k) -> ReLU -> maxpool -> conv(k) -> ReLU -> maxpool``, averaged over the
      image and mapped by a dense layer to ``g_c``, the log-level the shapes predict.

    ``alpha_c = exp(ln(L_c / S_c) - g_c)``. The dense layer starts at zero, so an untrained
    network is the quiet-Sun baseline, and training only has to learn how the Sun's
    appearance moves its level: never how dimming does, which is built in.
    """

    def __init__(self, prep: Preprocessing, arch: Architecture):
        super().__init__()
        if prep.scaling is None:
            raise ValueError("the preprocessing has no scaling yet (Preprocessing.with_scaling)")
        c, w, k = len(prep.channels), arch.width, arch.kernel
        self.level = DiskLevel(prep)
        self.register_buffer("log_reference",
                             torch.log(torch.tensor(prep.scaling, dtype=torch.float32)))
        self.floor = float(prep.floor)
        self.features = nn.Sequential(
            nn.Conv2d(c, w, k, padding=_pad(arch)), nn.ReLU(), nn.MaxPool2d(arch.pool),
            nn.Conv2d(w, 2 * w, k, padding=_pad(arch)), nn.ReLU(), nn.MaxPool2d(arch.pool),
        )
        self.profile = RadialProfile(prep.size, arch.profile_bins) if arch.profile_bins \
            else None
        self.dense = nn.Linear(2 * w + c * arch.profile_bins, c)
        nn.init.zeros_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = self.level(x).clamp(min=1e-12)
        shapes = torch.log10(torch.clamp(x / level[..., None, None], min=self.floor))
        z = self.features(shapes).mean(dim=(-2, -1))
        if self.profile is not None:
            z = torch.cat([z, self.profile(shapes)], dim=-1)
        g = self.dense(z)
        return torch.exp(torch.log(level) - self.log_reference - g)


class SingleChannelCNN(nn.Module):
    """One network per channel, each on its own channel only: ``(N, C, s, s) -> (N, C)``."""

    def __init__(self, prep: Preprocessing, arch: Architecture):
        super().__init__()
        c, w, k = len(prep.channels), arch.width, arch.kernel
        self.channels = c
        self.scaling = InputScaling(prep)
        self.features = nn.Sequential(
            nn.Conv2d(c, c * w, k, padding=_pad(arch), groups=c), nn.ReLU(),
            nn.MaxPool2d(arch.pool),
            nn.Conv2d(c * w, c * 2 * w, k, padding=_pad(arch), groups=c), nn.ReLU(),
            nn.MaxPool2d(arch.pool),
        )
        n_features = 2 * w * _feature_size(prep, arch)
        bound = 1.0 / np.sqrt(n_features)
        self.dense_weight = nn.Parameter(torch.empty(c, n_features).uniform_(-bound, bound))
        self.dense_bias = nn.Parameter(torch.empty(c).uniform_(-bound, bound))
        self.alpha_max = float(arch.alpha_max)
        self.head = arch.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(self.scaling(x))  # (N, C * 2w, h, w): channel-major groups
        z = _head_input(z.reshape(z.shape[0], self.channels, -1, *z.shape[-2:]), self.head)
        z = z.reshape(z.shape[0], self.channels, -1)
        logits = torch.einsum("ncf,cf->nc", z, self.dense_weight) + self.dense_bias
        return self.alpha_max * torch.sigmoid(logits)


class Ensemble(nn.Module):
    """``K`` independent networks; ``forward`` gives their mean, :meth:`members` each one's.

    The members share nothing but the input; trained on their own bootstrap weights of the
    samples (:func:`lascoproc.degradation.train.train_network`), they disagree where the
    training frames do not pin the answer down, and their spread is that uncertainty.
    """

    def __init__(self, networks):
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def members(self, x: torch.Tensor) -> torch.Tensor:
        """``(K, N, C)``: every member's alphas."""
        return torch.stack([net(x) for net in self.networks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.members(x).mean(dim=0)


def build_network(config: ModelConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (its preprocessing must have a scaling).

    ``architecture.ensemble > 1`` gives an :class:`Ensemble` of that many networks.
    """
    cls = {"multi": MultiChannelCNN, "single": SingleChannelCNN,
           "level": LevelShapeCNN}[config.architecture.kind]
    if config.architecture.ensemble == 1:
        return cls(config.preprocessing, config.architecture)
    return Ensemble([cls(config.preprocessing, config.architecture)
                     for _ in range(config.architecture.ensemble)])


def member_outputs(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(K, N, C)`` alphas of every ensemble member (``K = 1`` for a single network)."""
    if isinstance(network, Ensemble):
        return network.members(x)
    return network(x).unsqueeze(0)


def _symmetries(x: torch.Tensor):
    """The eight symmetries of the square (flips of either axis and transposition)."""
    for swap in (False, True):
        base = x.transpose(-1, -2) if swap else x
        for dims in ((), (-1,), (-2,), (-2, -1)):
            yield torch.flip(base, dims) if dims else base


def predict_members(network: nn.Module, x: torch.Tensor, *, symmetric: bool = False,
                    ) -> torch.Tensor:
    """Each ensemble member's alphas ``(K, B, C)`` for frames ``x`` ``(B, C, y, x)``, no-grad.

    ``symmetric``: each member's mean over the eight symmetries of the square, for models
    trained with them (``Augmentation.flips``): test-time augmentation, which averages out the
    part of the estimate that depends on where the active regions and coronal holes lie.
    """
    with torch.no_grad():
        if not symmetric or x.shape[-1] != x.shape[-2]:
            return member_outputs(network, x)
        total = None
        for view in _symmetries(x):
            y = member_outputs(network, view)
            total = y if total is None else total + y
        return total / 8.0


def predict(network: nn.Module, x: torch.Tensor, *, symmetric: bool = False) -> torch.Tensor:
    """The model's alphas ``(B, C)`` for frames ``x`` ``(B, C, y, x)``, in no-grad mode: the
    mean over the ensemble members (:func:`predict_members`)."""
    return predict_members(network, x, symmetric=symmetric).mean(dim=0)


# --------------------------------------------------------------------------- weights files
@dataclasses.dataclass(frozen=True, eq=False)
class DegradationModel:
    """A loaded model: network (eval mode, CPU), configuration and provenance."""

    network: nn.Module
    config: ModelConfig
    name: str
    sha256: str
    training: dict[str, Any]

    @property
    def channels(self) -> tuple[int, ...]:
        return self.config.channels

    @property
    def kind(self) -> str:
        return self.config.architecture.kind

    @property
    def symmetric(self) -> bool:
        """Predictions average the eight symmetric copies (trained with flips)."""
        return self.config.augmentation.flips

    def provenance(self) -> dict[str, str]:
        """Attributes naming the model in outputs (STYLE rule 9)."""
        return {"model_file": self.name, "model_sha256": self.sha256,
                "model_kind": self.kind}


def resolve_model_path(model=None) -> tuple[Path, str | None]:
    """``(path, pinned sha256 or None)`` of a model name (:data:`SHIPPED`) or file path."""
    if model is None:
        model = DEFAULT_MODEL
    key = str(model)
    if key in SHIPPED:
        shipped = SHIPPED[key]
        if not shipped.path.is_file():
            raise FileNotFoundError(f"shipped model {key} missing at {shipped.path}; "
                                    "reinstall lascoproc")
        return shipped.path, shipped.sha256
    return Path(key), None


def load_model(model=None, *, sha256: str | None = None) -> DegradationModel:
    """Load a weights file: a shipped name (``"default"``) or a path.

    The bytes are hashed before ``torch.load(weights_only=True)``; a shipped file must match its
    pinned hash, any file the ``sha256`` given.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Wrong hash, or not a lascoproc degradation weights file.
    """
    path, pinned = resolve_model_path(model)
    expected = sha256 or pinned
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected.lower():
        raise ValueError(f"{path}: SHA-256 {digest} differs from the expected {expected}")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ValueError(f"{path}: not a torch weights file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a lascoproc degradation model (format "
                         f"{payload.get('format') if isinstance(payload, dict) else None!r})")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path}: format version {payload['format_version']} is newer than "
                         f"this lascoproc reads ({FORMAT_VERSION})")
    missing = [k for k in ("config", "state_dict") if k not in payload]
    if missing:
        raise ValueError(f"{path}: the weights file lacks {missing[0]!r}")
    config = ModelConfig.from_json(payload["config"])
    network = build_network(config)
    try:
        network.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the configured network ({err})") from err
    network.eval()
    return DegradationModel(network=network, config=config, name=path.name, sha256=digest,
                            training=json.loads(payload.get("training", "{}")))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def model_payload(network: nn.Module, config: ModelConfig,
                  training: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dictionary a weights file holds."""
    state = {k: v.detach().to("cpu").clone() for k, v in network.state_dict().items()}
    return {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION,
            "config": config.to_json(), "state_dict": state,
            "training": json.dumps(training or {}, sort_keys=True, default=str)}


def save_model(path, network: nn.Module, config: ModelConfig,
               training: dict[str, Any] | None = None) -> str:
    """Write a weights file atomically; returns its SHA-256."""
    buffer = io.BytesIO()
    torch.save(model_payload(network, config, training), buffer)
    data = buffer.getvalue()
    _atomic_write(Path(path), data)
    return hashlib.sha256(data).hexdigest()
