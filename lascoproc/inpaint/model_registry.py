"""Inpainting weights: the shipped files, pinned by SHA-256, and how any weights file is loaded.

A weights file is a ``torch.save`` of a plain dictionary (tensors, numbers, strings only, so that
``torch.load(..., weights_only=True)`` reads it without unpickling code)::

    format          "lascoproc.inpaint.pconv"
    format_version  2 (1: files without model_kind, which are partial-convolution networks)
    name            e.g. "polar_residual_v1"
    model_kind      "polar_residual" (lascoproc.inpaint.patchnet, the shipped default) or
                    "pconv" (lascoproc.inpaint.model)
    model_config    the configuration of that kind of network
    normalisation   {"kind": "asinh", "softening": ..., "percentile": ...}
    state_dict      the network's parameters
    training        what it was trained on, for how long, and its evaluation (strings/numbers)

Every load reads the bytes once, hashes them, and refuses a file whose SHA-256 differs from the
one pinned here (shipped weights) or the one the caller gives (``sha256=``): a tampered or
truncated file never runs. Nothing is downloaded: the shipped file is package data under
``lascoproc/inpaint/weights/``. The name, version and hash of the weights used are written
into the attributes of every output (:meth:`ResolvedWeights.provenance`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import io
import os
import threading
from typing import Any

__all__ = [
    "WEIGHTS_FORMAT",
    "REGISTRY",
    "DEFAULT_WEIGHTS",
    "RegisteredWeights",
    "ResolvedWeights",
    "WeightsIntegrityError",
    "resolve_weights",
    "read_weights",
    "load_model",
    "save_weights",
]

WEIGHTS_FORMAT = "lascoproc.inpaint.pconv"
FORMAT_VERSION = 2
#: Network kinds a weights file may hold.
MODEL_KINDS = ("polar_residual", "pconv")


@dataclasses.dataclass(frozen=True)
class RegisteredWeights:
    """A weights file shipped with lascoproc."""

    name: str
    version: str
    filename: str
    sha256: str
    summary: str


#: The shipped weights. See docs/inpainting.md for how each was trained and how it scores.
REGISTRY: dict[str, RegisteredWeights] = {
    "polar_residual_v1": RegisteredWeights(
        name="polar_residual_v1",
        version="1",
        filename="polar_residual_v1.pt",
        sha256="3d9a831b37f3737a0b4912948d2721ef607560f40970c1fbd4253370d74c3807",
        summary="polar residual U-Net (widths 24/32, 48 k parameters) correcting the radial "
                "fill in a polar patch around each hole, trained 2000 steps x 16 patches on "
                "synthetic coronagraph scenes on a CPU (docs/inpainting.md, sections 4-5)",
    ),
}

#: The weights :func:`lascoproc.inpaint.fill` uses when none are given.
DEFAULT_WEIGHTS = "polar_residual_v1"


class WeightsIntegrityError(ValueError):
    """A weights file whose SHA-256 is not the expected one, or that is not a weights file."""


@dataclasses.dataclass(frozen=True)
class ResolvedWeights:
    """A weights file located and hashed (not yet loaded)."""

    name: str
    version: str
    path: str
    sha256: str
    shipped: bool

    def provenance(self) -> dict[str, str]:
        """Attributes for the output (STYLE rule 9)."""
        return {
            "inpaint_weights": self.name,
            "inpaint_weights_version": self.version,
            "inpaint_weights_sha256": self.sha256,
            "inpaint_weights_file": (os.path.basename(self.path) if self.shipped else self.path),
        }


def _shipped_bytes(entry: RegisteredWeights) -> tuple[str, bytes]:
    resource = importlib.resources.files("lascoproc.inpaint") / "weights" / entry.filename
    try:
        data = resource.read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"the shipped inpainting weights {entry.filename} are missing from this "
            "installation (package data lascoproc/inpaint/weights/); reinstall lascoproc or "
            "pass weights=PATH") from err
    return str(resource), data


def _read(weights, sha256: str | None) -> tuple[ResolvedWeights, bytes]:
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if isinstance(weights, str) and weights in REGISTRY:
        entry = REGISTRY[weights]
        path, data = _shipped_bytes(entry)
        expected, shipped, name, version = entry.sha256, True, entry.name, entry.version
        if sha256 is not None and sha256.lower() != expected:
            raise WeightsIntegrityError(f"{name} is pinned to sha256 {expected}, not {sha256}")
    else:
        path = os.fspath(weights)
        with open(path, "rb") as handle:
            data = handle.read()
        expected, shipped = (sha256.lower() if sha256 else None), False
        name, version = os.path.splitext(os.path.basename(path))[0], ""
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        raise WeightsIntegrityError(
            f"inpainting weights {path} have sha256 {digest}, expected {expected}: the file "
            "was modified or is incomplete; refusing to load it")
    return ResolvedWeights(name=name, version=version, path=path, sha256=digest,
                           shipped=shipped), data


def resolve_weights(weights: str | os.PathLike | None = None, *,
                    sha256: str | None = None) -> ResolvedWeights:
    """Locate and hash weights: ``None`` (the default shipped model), a name in
    :data:`REGISTRY`, or a path. Shipped files are checked against their pinned SHA-256, a path
    against ``sha256`` when given. Raises :class:`WeightsIntegrityError` on a mismatch."""
    return _read(weights, sha256)[0]


def read_weights(weights: str | os.PathLike | None = None, *, sha256: str | None = None
                 ) -> tuple[ResolvedWeights, dict[str, Any]]:
    """Resolve, verify and load a weights file (``torch.load(weights_only=True)``)."""
    import torch

    resolved, data = _read(weights, sha256)
    try:
        content = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not weights"
        raise WeightsIntegrityError(f"{resolved.path} is not a lascoproc weights file: {err}"
                                    ) from err
    if not isinstance(content, dict) or content.get("format") != WEIGHTS_FORMAT:
        raise WeightsIntegrityError(f"{resolved.path} is not a lascoproc weights file "
                                    f"(format {WEIGHTS_FORMAT!r} expected)")
    if int(content.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsIntegrityError(f"{resolved.path} has format version "
                                    f"{content.get('format_version')}; this lascoproc reads "
                                    f"up to {FORMAT_VERSION}")
    if not resolved.shipped and content.get("name"):
        resolved = dataclasses.replace(resolved, name=str(content["name"]),
                                       version=str(content.get("version", "")))
    return resolved, content


_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def load_model(weights: str | os.PathLike | None = None, *, sha256: str | None = None,
               device: str = "cpu"):
    """The network of a weights file, in eval mode on ``device``: ``(model, resolved, content)``.

    The file is read and verified on every call (a few MB); the model built from a given hash
    is kept per device and process, so dask tasks share one copy.
    """
    resolved, content = read_weights(weights, sha256=sha256)
    key = (resolved.sha256, str(device))
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _build(content)
            model.load_state_dict(content["state_dict"])
            model.eval().requires_grad_(False)
            model = model.to(device)
            if len(_MODELS) >= 8:
                _MODELS.clear()
            _MODELS[key] = model
    return model, resolved, content


def model_kind(content: dict[str, Any]) -> str:
    """The kind of network a loaded weights file holds (:data:`MODEL_KINDS`)."""
    kind = str(content.get("model_kind", "pconv"))
    if kind not in MODEL_KINDS:
        raise WeightsIntegrityError(f"unknown network kind {kind!r} in a weights file; this "
                                    f"lascoproc knows {MODEL_KINDS}")
    return kind


def _build(content: dict[str, Any]):
    if model_kind(content) == "polar_residual":
        from lascoproc.inpaint.patchnet import PatchNetConfig, PolarResidualNet

        return PolarResidualNet(PatchNetConfig.from_dict(content["model_config"]))
    from lascoproc.inpaint.model import ModelConfig, PConvUNet

    # files written before ModelConfig had a prior hold Liu's network without one
    return PConvUNet(ModelConfig(**{"prior": "none", **content["model_config"]}))


def save_weights(model, path: str | os.PathLike, *, name: str, version: str = "",
                 normalisation: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None, kind: str = "pconv") -> str:
    """Write a weights file for ``model`` (a :class:`~lascoproc.inpaint.patchnet.
    PolarResidualNet` with ``kind="polar_residual"``, a :class:`~lascoproc.inpaint.model.
    PConvUNet` with ``kind="pconv"``); returns its SHA-256 (pin it in :data:`REGISTRY` to ship
    it)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, not {kind!r}")
    import torch

    from lascoproc.inpaint.normalise import SCALE_PERCENTILE, SOFTENING

    content = {
        "format": WEIGHTS_FORMAT,
        "format_version": FORMAT_VERSION,
        "name": str(name),
        "version": str(version),
        "model_kind": kind,
        "model_config": model.config.as_dict(),
        "normalisation": dict(normalisation or {"kind": "asinh", "softening": SOFTENING,
                                                "percentile": SCALE_PERCENTILE}),
        "state_dict": {k: v.detach().to("cpu", torch.float32).clone()
                       for k, v in model.state_dict().items()},
        "training": dict(training or {}),
    }
    buffer = io.BytesIO()
    torch.save(content, buffer)
    data = buffer.getvalue()
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
