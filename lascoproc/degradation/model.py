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

__all__ = [
    "WEIGHTS_FORMAT",
    "SHIPPED",
    "DEFAULT_MODEL",
    "InputScaling",
    "MultiChannelCNN",
    "SingleChannelCNN",
    "build_network",
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


#: The shipped models (trained on the synthetic SDOML store; docs/aia_degradation.md says how).
SHIPPED: dict[str, ShippedModel] = {
    "default-multi": ShippedModel(
        filename="sdoml_synth_multi_v2.pt",
        sha256="c0baaeaada906f352afb6d46d34009654cf4ba4149cce3ff883a06493230c069",
        summary="multi-channel CNN, 7 EUV channels, 64x64 input, log transform with floor "
                "0.03, flips and rotations (8-fold prediction), cosine learning rate; trained "
                "10 min on 2 CPU cores on the synthetic SDOML store (lascoproc.testing.sdoml, "
                "512x512, 30-day cadence, stationary activity, seed 0), reference "
                "2010-05-13 .. 2012-05-12 (docs/aia_degradation.md)",
    ),
    "default-single": ShippedModel(
        filename="sdoml_synth_single_v2.pt",
        sha256="f36dbf25a3d1d408ec4440d897471dbcbe6e28924afc1ecc0ac0487b1f103737",
        summary="single-channel CNNs (one per EUV channel), otherwise as default-multi",
    ),
}

#: The model used when none is given.
DEFAULT_MODEL = "default-multi"


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
    """Positions per feature map reaching the dense layer (1 for the ``mean`` head)."""
    side = prep.size
    for _ in range(2):
        if side % arch.pool:
            raise ValueError(f"input size {prep.size} is not divisible by pool {arch.pool} twice")
        side //= arch.pool
    return 1 if arch.head == "mean" else side * side


def _head_input(z: torch.Tensor, head: str) -> torch.Tensor:
    return z.mean(dim=(-2, -1)) if head == "mean" else z.flatten(-3)


class MultiChannelCNN(nn.Module):
    """One network over all channels: ``(N, C, s, s) -> (N, C)`` dimming factors."""

    def __init__(self, prep: Preprocessing, arch: Architecture):
        super().__init__()
        c, w, k = len(prep.channels), arch.width, arch.kernel
        self.scaling = InputScaling(prep)
        self.features = nn.Sequential(
            nn.Conv2d(c, w, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(arch.pool),
            nn.Conv2d(w, 2 * w, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(arch.pool),
        )
        self.dense = nn.Linear(2 * w * _feature_size(prep, arch), c)
        self.alpha_max = float(arch.alpha_max)
        self.head = arch.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = _head_input(self.features(self.scaling(x)), self.head)
        return self.alpha_max * torch.sigmoid(self.dense(z))


class SingleChannelCNN(nn.Module):
    """One network per channel, each on its own channel only: ``(N, C, s, s) -> (N, C)``."""

    def __init__(self, prep: Preprocessing, arch: Architecture):
        super().__init__()
        c, w, k = len(prep.channels), arch.width, arch.kernel
        self.channels = c
        self.scaling = InputScaling(prep)
        self.features = nn.Sequential(
            nn.Conv2d(c, c * w, k, padding=k // 2, groups=c), nn.ReLU(), nn.MaxPool2d(arch.pool),
            nn.Conv2d(c * w, c * 2 * w, k, padding=k // 2, groups=c), nn.ReLU(),
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


def build_network(config: ModelConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (its preprocessing must have a scaling)."""
    cls = MultiChannelCNN if config.architecture.kind == "multi" else SingleChannelCNN
    return cls(config.preprocessing, config.architecture)


def predict(network: nn.Module, x: torch.Tensor, *, symmetric: bool = False) -> torch.Tensor:
    """The network's alphas for frames ``x`` ``(B, C, y, x)``, in no-grad mode.

    ``symmetric``: the mean over the eight symmetries of the square (flips of either axis and
    transposition), for models trained with them (``Augmentation.flips``): test-time
    augmentation, which averages out the part of the estimate that depends on where the
    active regions and coronal holes happen to lie.
    """
    with torch.no_grad():
        if not symmetric or x.shape[-1] != x.shape[-2]:
            return network(x)
        total = None
        for swap in (False, True):
            base = x.transpose(-1, -2) if swap else x
            for dims in ((), (-1,), (-2,), (-2, -1)):
                y = network(torch.flip(base, dims) if dims else base)
                total = y if total is None else total + y
        return total / 8.0


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
    """Load a weights file: a shipped name (``"default-multi"``, ``"default-single"``) or a path.

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
