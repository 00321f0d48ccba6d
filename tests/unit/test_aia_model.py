"""The single- and multi-channel CNNs and their weights files."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch

from lascoproc.degradation.config import Architecture, ModelConfig, Preprocessing
from lascoproc.degradation.model import (
    SHIPPED,
    InputScaling,
    MultiChannelCNN,
    SingleChannelCNN,
    build_network,
    load_model,
    save_model,
)


class _Opaque:
    """A class torch.load(weights_only=True) does not know."""


PREP = Preprocessing(channels=(94, 171, 304), size=16, scaling=(2.0, 100.0, 10.0))


def _config(kind="multi", **prep):
    return ModelConfig(preprocessing=Preprocessing(**{**PREP.__dict__, **prep}),
                       architecture=Architecture(kind=kind, width=4, alpha_max=1.2))


def test_input_scaling_linear_and_log():
    x = torch.tensor([2.0, 50.0, 0.0]).view(1, 3, 1, 1)
    np.testing.assert_allclose(InputScaling(PREP)(x).flatten().numpy(), [1.0, 0.5, 0.0])
    log = InputScaling(Preprocessing(**{**PREP.__dict__, "transform": "log"}))
    np.testing.assert_allclose(log(x).flatten().numpy(), [0.0, np.log10(0.5), -3.0], rtol=1e-6)
    with pytest.raises(ValueError, match="no scaling"):
        InputScaling(Preprocessing(size=16))


@pytest.mark.parametrize("kind", ["multi", "single"])
def test_output_shape_and_range(kind):
    torch.manual_seed(0)
    net = build_network(_config(kind))
    assert isinstance(net, MultiChannelCNN if kind == "multi" else SingleChannelCNN)
    out = net(torch.rand(5, 3, 16, 16) * 100)
    assert out.shape == (5, 3)
    assert torch.all(out > 0) and torch.all(out < 1.2)


def test_single_channel_networks_see_only_their_channel():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 16, 16) * 50
    y = x.clone()
    y[:, 1] *= 3.0
    single = build_network(_config("single"))
    a, b = single(x), single(y)
    assert torch.equal(a[:, 0], b[:, 0]) and torch.equal(a[:, 2], b[:, 2])
    assert not torch.equal(a[:, 1], b[:, 1])
    multi = build_network(_config("multi"))
    assert not torch.equal(multi(x)[:, 0], multi(y)[:, 0])


def test_pool_must_divide_the_size_twice():
    with pytest.raises(ValueError, match="not divisible by pool"):
        build_network(ModelConfig(preprocessing=PREP,
                                  architecture=Architecture(width=2, pool=3)))


@pytest.mark.parametrize("kind", ["multi", "single"])
def test_weights_file_round_trip(tmp_path, kind):
    torch.manual_seed(2)
    config = _config(kind)
    net = build_network(config).eval()
    path = tmp_path / "model.pt"
    digest = save_model(path, net, config, {"note": "test", "seconds": 1.5})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    model = load_model(path)
    assert model.config == config and model.sha256 == digest and model.name == "model.pt"
    assert model.training == {"note": "test", "seconds": 1.5}
    assert model.provenance() == {"model_file": "model.pt", "model_sha256": digest,
                                  "model_kind": kind}
    x = torch.rand(3, 3, 16, 16) * 20
    with torch.no_grad():
        assert torch.equal(model.network(x), net(x))
    assert load_model(path, sha256=digest).sha256 == digest


def test_wrong_hash_and_foreign_files_are_refused(tmp_path):
    config = _config()
    path = tmp_path / "model.pt"
    save_model(path, build_network(config), config)
    with pytest.raises(ValueError, match="differs from the expected"):
        load_model(path, sha256="0" * 64)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a torch weights file"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else", "state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a lascoproc degradation model"):
        load_model(other)
    # a file that needs code to unpickle is refused (weights_only=True)
    pickled = tmp_path / "pickled.pt"
    buffer = io.BytesIO()
    torch.save({"format": "lascoproc.degradation.cnn", "obj": _Opaque()}, buffer)
    pickled.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a torch weights file"):
        load_model(pickled)
    keyless = tmp_path / "keyless.pt"
    torch.save({"format": "lascoproc.degradation.cnn", "format_version": 1}, keyless)
    with pytest.raises(ValueError, match="lacks 'config'"):
        load_model(keyless)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_load_with_their_pinned_hash(name):
    shipped = SHIPPED[name]
    assert shipped.path.stat().st_size < 2 * 1024 * 1024
    assert hashlib.sha256(shipped.path.read_bytes()).hexdigest() == shipped.sha256
    model = load_model(name)
    assert model.channels == (94, 131, 171, 193, 211, 304, 335)
    assert model.kind == "level" and model.config.preset == "fast"
    assert model.training.get("command", "").startswith("lascoproc aia train")


def _level_config(ensemble=1, floor=1e-4):
    prep = Preprocessing(channels=(94, 171, 304), size=16, floor=floor,
                         scaling=(2.0, 100.0, 10.0))
    return ModelConfig(preprocessing=prep,
                       architecture=Architecture(kind="level", width=4, ensemble=ensemble))


def _disk_frames(n=3, seed=0):
    from lascoproc.kernels.aia_degradation import disk_mask

    rng = np.random.default_rng(seed)
    mask = disk_mask(16, Preprocessing(size=16).radius_px, limit=1.0)
    base = np.where(mask, 1.0, 0.2)[None, None] * np.array([2.0, 100.0, 10.0])[None, :,
                                                                                  None, None]
    return torch.from_numpy((base * rng.uniform(0.8, 1.2, (n, 3, 16, 16))).astype(np.float32))


def test_untrained_level_network_is_the_quiet_sun_baseline():
    from lascoproc.kernels.aia_degradation import disk_mask, quiet_sun_level

    torch.manual_seed(0)
    config = _level_config()
    net = build_network(config)
    x = _disk_frames()
    mask = disk_mask(16, config.preprocessing.radius_px, limit=0.9)
    expected = quiet_sun_level(x.numpy(), mask) / np.array([2.0, 100.0, 10.0])
    # torch's median of an even count is the lower middle value, numpy's the mean of the two
    np.testing.assert_allclose(net(x).detach().numpy(), expected, rtol=0.03)


def test_level_network_follows_dimming_exactly():
    """Dimming a channel by alpha multiplies its estimate by alpha, whatever the weights:
    the level scales and the shapes do not change."""
    torch.manual_seed(1)
    net = build_network(_level_config())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))  # some trained-looking weights
        x = _disk_frames()
        alpha = torch.tensor([0.3, 0.9, 0.55]).view(1, 3, 1, 1)
        np.testing.assert_allclose(net(x * alpha).numpy(),
                                   (net(x) * alpha.view(1, 3)).numpy(), rtol=1e-4)


def test_ensemble_members_and_weights_file(tmp_path):
    from lascoproc.degradation.model import Ensemble, predict, predict_members

    torch.manual_seed(2)
    config = _level_config(ensemble=3)
    net = build_network(config)
    assert isinstance(net, Ensemble) and len(net.networks) == 3
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    x = _disk_frames(2)
    members = predict_members(net, x, symmetric=True)
    assert members.shape == (3, 2, 3)
    np.testing.assert_allclose(predict(net, x, symmetric=True).numpy(),
                               members.mean(dim=0).numpy(), rtol=1e-6)
    path = tmp_path / "ens.pt"
    save_model(path, net.eval(), config)
    loaded = load_model(path)
    np.testing.assert_allclose(predict(loaded.network, x).numpy(), predict(net, x).numpy(),
                               rtol=1e-6)
