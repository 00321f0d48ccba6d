"""The partial-convolution network and its weights files."""

from __future__ import annotations

import hashlib
import importlib.resources

import numpy as np
import pytest
import torch

from lascoproc.inpaint import model_registry as registry
from lascoproc.inpaint.inference import auto_batch_size, predict
from lascoproc.inpaint.model import ModelConfig, PartialConv2d, PConvUNet, pad_to_multiple

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
M = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
W = torch.tensor([[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]])


def layer_with(weight: torch.Tensor, bias: float) -> PartialConv2d:
    layer = PartialConv2d((1,), 1, 3)
    with torch.no_grad():
        layer.conv.weight.copy_(weight.view(1, 1, 3, 3))
        layer.bias.fill_(bias)
    return layer


def test_partial_convolution_on_a_hand_computed_example():
    """x' = W^T (X * M) sum(1) / sum(M) + b, sum(1) = 9 (zero padding counts as unknown).

    centre: X*M = [[1,0,3],[4,5,0],[0,8,9]], W.(X*M) = 4 + 10 + 8 = 22, sum(M) = 6:
            22 * 9 / 6 + 0.5 = 33.5
    (0, 0): W[1,1] 1 + W[2,1] 4 = 2 + 4 = 6, sum(M) = 1 + 0 + 1 + 1 = 3: 6 * 3 + 0.5 = 18.5
    (0, 1): W[1,0] 1 + W[1,2] 3 + W[2,1] 5 = 9, sum(M) = 4: 9 * 9 / 4 + 0.5 = 20.75
    """
    out, new_mask = layer_with(W, 0.5)(X.view(1, 1, 3, 3), M.view(1, 1, 3, 3))
    assert out[0, 0, 1, 1].item() == pytest.approx(33.5)
    assert out[0, 0, 0, 0].item() == pytest.approx(18.5)
    assert out[0, 0, 0, 1].item() == pytest.approx(20.75)
    assert torch.equal(new_mask, torch.ones(1, 1, 3, 3))


def test_partial_convolution_where_nothing_is_known():
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 0, 0] = 1.0
    x = torch.full((1, 1, 5, 5), 100.0)  # garbage under the mask must not leak
    out, new_mask = layer_with(W, 0.5)(x, mask)
    # only windows touching pixel (0, 0) see a known pixel: (0..1, 0..1)
    expected_mask = torch.zeros(1, 1, 5, 5)
    expected_mask[0, 0, :2, :2] = 1.0
    assert torch.equal(new_mask, expected_mask)
    assert torch.all(out[new_mask == 0] == 0.0)  # no bias where sum(M) = 0
    # (1, 1): only X[0,0] = 100 under W[0,0] = 0 -> 0 * 9 / 1 + 0.5
    assert out[0, 0, 1, 1].item() == pytest.approx(0.5)
    # (0, 0): X[0,0] under W[1,1] = 2 -> 200 * 9 + 0.5
    assert out[0, 0, 0, 0].item() == pytest.approx(1800.5)


def test_grouped_masks_equal_a_mask_per_channel():
    torch.manual_seed(0)
    layer = PartialConv2d((2, 1), 4, 3)
    x = torch.randn(2, 3, 8, 8)
    m1 = (torch.rand(2, 1, 8, 8) > 0.4).float()
    m2 = (torch.rand(2, 1, 8, 8) > 0.7).float()
    out, new_mask = layer(x, torch.cat([m1, m2], dim=1))
    full = torch.cat([m1, m1, m2], dim=1)  # Liu's per-channel mask
    known = torch.nn.functional.conv2d(full, torch.ones(1, 3, 3, 3), padding=1)
    ratio = torch.where(known > 0, 27.0 / known.clamp(min=1), torch.zeros_like(known))
    expected = (torch.nn.functional.conv2d(x * full, layer.conv.weight, padding=1) * ratio
                + layer.bias.view(1, -1, 1, 1) * (known > 0))
    torch.testing.assert_close(out, expected)
    assert torch.equal(new_mask, (known > 0).float())
    # inputs already zero under their masks give the same result without the product
    out2, _ = layer(x * full, torch.cat([m1, m2], dim=1), premasked=True)
    torch.testing.assert_close(out2, out)


def test_network_shapes_padding_and_outputs_per_layer():
    config = ModelConfig(depth=3, width=4, max_width=8, refine=2, refine_width=4, prior="none")
    net = PConvUNet(config).eval()
    image = torch.randn(2, 1, 40, 50)
    mask = torch.ones_like(image)
    with pytest.raises(ValueError, match="multiple of 8"):
        net(image, mask)
    padded, pmask, (h, w) = pad_to_multiple(image, mask, net.multiple)
    assert padded.shape[-2:] == (40, 56) and (h, w) == (40, 50)
    assert pmask[..., 50:].sum() == 0
    outputs, reached = net(padded, pmask)
    assert len(outputs) == 1 + config.refine
    assert all(o.shape == (2, 1, 40, 56) for o in outputs)
    assert reached.shape == (2, 1, 40, 56)
    # refinement heads start at zero: every layer gives the decoder's image
    torch.testing.assert_close(outputs[-1], outputs[0])


def test_hole_content_does_not_change_the_prediction():
    net = PConvUNet(ModelConfig(depth=3, width=4, max_width=8, refine=1, prior="none")).eval()
    image = torch.rand(1, 1, 32, 32)
    mask = torch.ones_like(image)
    mask[..., 8:24, 8:24] = 0.0
    garbage = image.clone()
    garbage[..., 8:24, 8:24] = 1.0e6
    with torch.no_grad():
        a, _ = net(image, mask)
        b, _ = net(garbage, mask)
    torch.testing.assert_close(a[-1], b[-1])


def test_an_untrained_network_with_a_prior_returns_the_prior():
    net = PConvUNet(ModelConfig(depth=3, width=4, max_width=8, refine=2)).eval()
    assert net.config.prior == "biharmonic"
    image = torch.rand(2, 1, 32, 32)
    mask = torch.ones_like(image)
    mask[..., 8:24, 8:24] = 0.0
    prior = torch.rand(2, 1, 32, 32)
    usable = torch.ones_like(image)
    usable[..., :4, :] = 0.0  # outside the field: neither known nor a hole
    with torch.no_grad():
        outputs, reached = net(image, mask * usable, prior, usable)
    for y in outputs:
        torch.testing.assert_close(y, prior * usable)
    assert bool(reached[usable > 0].all())  # every hole is reached
    with pytest.raises(ValueError, match="pass prior"):
        net(image, mask)


def test_predict_batches_give_the_same_result():
    net = PConvUNet(ModelConfig(depth=2, width=4, max_width=8, refine=1)).eval()
    with torch.no_grad():  # a non-trivial network
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    rng = np.random.default_rng(0)
    y = rng.random((5, 20, 36)).astype(np.float32)
    known = rng.random((5, 20, 36)) > 0.2
    prior = rng.random((5, 20, 36)).astype(np.float32)
    usable = np.ones((5, 20, 36), bool)
    one, reached = predict(net, y, known, prior=prior, usable=usable, batch_size=1,
                           device="cpu")
    three, _ = predict(net, y, known, prior=prior, usable=usable, batch_size=3, device="cpu")
    with pytest.raises(ValueError, match="prior"):
        predict(net, y, known)
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-6)
    assert one.shape == y.shape and reached.dtype == bool
    assert 1 <= auto_batch_size(net, (1024, 1024), "cpu") <= 8


# --- weights files -----------------------------------------------------------------------

def test_shipped_weights_are_pinned_and_load_with_weights_only():
    from lascoproc.inpaint.patchnet import PolarResidualNet

    entry = registry.REGISTRY[registry.DEFAULT_WEIGHTS]
    data = (importlib.resources.files("lascoproc.inpaint") / "weights"
            / entry.filename).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert len(data) < 1 * 2 ** 20, "the shipped model must stay small"
    resolved = registry.resolve_weights()
    assert resolved.sha256 == entry.sha256 and resolved.shipped
    assert resolved.provenance() == {
        "inpaint_weights": entry.name, "inpaint_weights_version": entry.version,
        "inpaint_weights_sha256": entry.sha256, "inpaint_weights_file": entry.filename}
    model, _, content = registry.load_model(device="cpu")
    assert isinstance(model, PolarResidualNet) and not model.training
    assert content["format"] == registry.WEIGHTS_FORMAT
    assert content["model_kind"] == "polar_residual"
    assert content["training"], "the shipped file records how it was trained"
    # only the registered files are shipped
    shipped = {p.name for p in (importlib.resources.files("lascoproc.inpaint") / "weights")
               .iterdir() if p.name.endswith(".pt")}
    assert shipped == {e.filename for e in registry.REGISTRY.values()}


def test_weights_of_an_unknown_kind_are_refused(tmp_path):
    net = PConvUNet(ModelConfig(depth=2, width=4, max_width=8, refine=1))
    path = tmp_path / "w.pt"
    registry.save_weights(net, path, name="w")
    content = torch.load(path, weights_only=True)
    content["model_kind"] = "transformer"
    torch.save(content, path)
    with pytest.raises(registry.WeightsIntegrityError, match="unknown network kind"):
        registry.load_model(path)
    with pytest.raises(ValueError, match="kind"):
        registry.save_weights(net, path, name="w", kind="transformer")


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    entry = registry.REGISTRY[registry.DEFAULT_WEIGHTS]
    path, data = registry._shipped_bytes(entry)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    monkeypatch.setattr(registry, "_shipped_bytes", lambda e: (path, bytes(tampered)))
    with pytest.raises(registry.WeightsIntegrityError, match="modified"):
        registry.load_model()
    copy = tmp_path / "copy.pt"
    copy.write_bytes(bytes(tampered))
    with pytest.raises(registry.WeightsIntegrityError, match="expected"):
        registry.read_weights(copy, sha256=entry.sha256)


def test_weights_files_round_trip_and_refuse_pickled_code(tmp_path):
    net = PConvUNet(ModelConfig(depth=2, width=4, max_width=8, refine=1))
    path = tmp_path / "tiny.pt"
    digest = registry.save_weights(net, path, name="tiny", version="0",
                                   training={"steps": 3, "data": "none"})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    model, resolved, content = registry.load_model(path, sha256=digest)
    assert resolved.name == "tiny" and resolved.sha256 == digest and not resolved.shipped
    for key, value in net.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    evil = tmp_path / "evil.pt"
    torch.save({"format": registry.WEIGHTS_FORMAT, "payload": _Payload()}, evil)
    with pytest.raises(registry.WeightsIntegrityError, match="not a lascoproc weights"):
        registry.read_weights(evil)
    other = tmp_path / "other.pt"
    torch.save({"hello": torch.zeros(1)}, other)
    with pytest.raises(registry.WeightsIntegrityError, match="format"):
        registry.read_weights(other)


class _Payload:
    """An arbitrary object: weights_only loading must refuse to rebuild it."""
