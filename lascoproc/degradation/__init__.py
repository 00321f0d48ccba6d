"""SDO/AIA degradation by CNN auto-calibration (Dos Santos et al. 2021, A&A 648, A53).

- :mod:`~lascoproc.degradation.config`: what a model is (preprocessing, network, split).
- :mod:`~lascoproc.degradation.data`: lazy preprocessing of SDOML cubes and the
  (dimmed frame, alpha) pairs.
- :mod:`~lascoproc.degradation.model`: the single- and multi-channel CNNs, weights files, the
  shipped models.
- :mod:`~lascoproc.degradation.train`: training with checkpoints and a time budget.
- :mod:`~lascoproc.degradation.evaluate`: the paper's success-rate metric, the quiet-Sun
  baseline.
- :mod:`~lascoproc.degradation.series`: the per-frame estimates (lazy) and the binned series.
- :mod:`~lascoproc.degradation.reference`: aiapy's degradation factor from a response table.
- :mod:`~lascoproc.degradation.plot`: figures of a series.
- :mod:`~lascoproc.degradation.api`: aiapy-style ``degradation(channel, time)`` and
  ``correct_degradation(data, channel, time)`` from a series (or a response table).

torch is imported by the modules that need it (data, model, train, evaluate, series), not by
this package or by ``reference``/``config``/``plot``/``api``; the archive is opened by
:mod:`lascoproc.pipeline.aia`.
"""

import importlib

__all__ = [
    "degradation",
    "correct_degradation",
    "EUV_CHANNELS",
    "ModelConfig",
    "Preprocessing",
    "Architecture",
    "Augmentation",
    "ReferenceSplit",
    "DimmedPairs",
    "preprocess",
    "select_frames",
    "load_model",
    "save_model",
    "train_network",
    "estimate_frames",
    "bin_estimates",
    "add_reference",
    "aiapy_degradation",
    "reference_degradation",
]

_WHERE = {
    "degradation": "api", "correct_degradation": "api",
    "EUV_CHANNELS": "config", "ModelConfig": "config", "Preprocessing": "config",
    "Architecture": "config", "Augmentation": "config", "ReferenceSplit": "config",
    "DimmedPairs": "data", "preprocess": "data", "select_frames": "data",
    "load_model": "model", "save_model": "model", "train_network": "train",
    "estimate_frames": "series", "bin_estimates": "series",
    "add_reference": "series", "aiapy_degradation": "reference",
    "reference_degradation": "reference",
}


def __getattr__(name):
    if name in _WHERE:
        try:
            module = importlib.import_module(f"lascoproc.degradation.{_WHERE[name]}")
        except ImportError as err:  # torch (the networks) is the ``ml`` extra
            from lascoproc.extras import explain

            message = explain(err, f"lascoproc.degradation.{name}")
            if message is None:
                raise
            raise ImportError(message, name=err.name) from err
        return getattr(module, name)
    raise AttributeError(f"module 'lascoproc.degradation' has no attribute {name!r}")
