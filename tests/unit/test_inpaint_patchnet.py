"""The polar residual network: patch geometry, radial prior, receptive field, read-back, cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lascoproc.inpaint import patches as pt
from lascoproc.inpaint.patchnet import PatchNetConfig, PolarResidualNet, batch_patches, read_back


def test_patch_around_a_hole_on_the_x_axis():
    """Hole pixels (10..12, 0) seen from (0, 0): theta_ref 0, r_ref 11, rows = radii from
    r0 = 10 - context, columns = arc length from v0 = 0 - context."""
    ys, xs = np.zeros(3, int), np.array([10, 11, 12])
    patch = pt.PolarPatch.around(ys, xs, (0.0, 0.0), context=4, multiple=4)
    assert patch.theta_ref == 0.0 and patch.r_ref == 11.0
    assert patch.r0 == 6.0 and patch.v0 == -4.0
    assert patch.shape == (12, 12)  # 12 - 6 + 4 + 1 = 11 rows, 0 + 4 + 1 + 4 = 9 columns: x 4
    rows, cols = patch.coordinates(ys, xs)
    np.testing.assert_allclose(rows, [4.0, 5.0, 6.0])
    np.testing.assert_allclose(cols, [4.0, 4.0, 4.0], atol=1e-12)
    # the patch pixel (row 5, column 4) is sampled at radius 11 on the x axis
    sy, sx, valid = patch.source()
    assert sx[5, 4] == pytest.approx(11.0) and sy[5, 4] == pytest.approx(0.0, abs=1e-12)
    assert valid.all()


def test_patch_coordinates_invert_the_sampling():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[40:72, 200:232]
    patch = pt.PolarPatch.around(ys.ravel(), xs.ravel(), (100.5, 300.25), context=10)
    sy, sx, _ = patch.source()
    i, j = rng.integers(0, patch.shape[0], 20), rng.integers(0, patch.shape[1], 20)
    rows, cols = patch.coordinates(sy[i, j], sx[i, j])
    np.testing.assert_allclose(rows, i, atol=1e-9)
    np.testing.assert_allclose(cols, j, atol=1e-9)


def test_bilinear_sampling_hand_values():
    a = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    out = pt.bilinear(a, np.array([0.5, 0.0, 1.0]), np.array([0.5, 0.25, 2.0]))
    np.testing.assert_allclose(out[0], [1.5, 0.25, 3.0 * 0.0])  # off the array: 0


def test_polar_prior_interpolates_along_columns_then_rows():
    v = np.zeros((5, 3))
    known = np.zeros((5, 3), bool)
    v[0, 0], v[4, 0] = 1.0, 5.0  # column 0: known at rows 0 and 4
    known[0, 0] = known[4, 0] = True
    v[2, 2] = 9.0  # column 2: one known pixel
    known[2, 2] = True
    usable = np.ones((5, 3), bool)
    usable[:, 1] = [True, False, True, True, True]
    out = pt.polar_prior(v, known, usable)
    np.testing.assert_allclose(out[:, 0], [1, 2, 3, 4, 5])
    np.testing.assert_allclose(out[:, 2], [9, 9, 9, 9, 9])
    # column 1 has no known pixel: along its rows (row 0: 1 at column 0; row 2: 9 at column
    # 2; row 4: 5 at column 0); row 3 has none: the mean of the known, (1 + 5 + 9) / 3;
    # row 1 is not usable: 0
    np.testing.assert_allclose(out[:, 1], [1, 0, 9, 5, 5])
    across = pt.polar_prior(v, known, usable, axis=1)
    np.testing.assert_allclose(across[2], [9.0, 9.0, 9.0])  # along row 2
    # rows 1 and 3 have no known pixel: along column 0 instead
    np.testing.assert_allclose(across[:, 0], [1.0, 2.0, 9.0, 4.0, 5.0])


def test_hole_regions_are_8_connected_and_exact():
    h = np.zeros((64, 64), bool)
    h[0:8, 0:8] = True
    h[8:16, 8:16] = True  # touches the first diagonally: one region
    h[40:45, 3:7] = True
    h[40:41, 60:64] = True
    regions = pt.hole_regions(h, cell=8)
    assert sorted(len(ys) for ys, _ in regions) == [4, 20, 128]
    back = np.zeros_like(h)
    for ys, xs in regions:
        assert not back[ys, xs].any()
        back[ys, xs] = True
    np.testing.assert_array_equal(back, h)


def _random_net(config: PatchNetConfig | None = None) -> PolarResidualNet:
    torch.manual_seed(0)
    net = PolarResidualNet(config or PatchNetConfig()).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    return net


def test_receptive_field_of_the_default_network():
    """unshuffle 2 (rf 2, jump 2), 2 convs (+4 each), stride-2 conv (+4, jump 4), 2 convs
    (+8 each), up 2 (jump 2, +2), 3 convs (+4 each), shuffle 2 (jump 1, +1): 45."""
    net = PolarResidualNet()
    assert net.receptive_field() == 45
    assert net.context == 24


def test_no_input_outside_the_context_changes_an_output():
    net = _random_net()
    x = torch.randn(1, 5, 96, 96)
    with torch.no_grad():
        base = net(x)[0, 0, 48, 48]
        radius = (net.receptive_field() - 1) // 2 + 1
        far = x.clone()
        far[..., 48 + radius + 1:, :] = 50.0
        far[..., :48 - radius - 1, :] = 50.0
        far[..., :, 48 + radius + 1:] = 50.0
        far[..., :, :48 - radius - 1] = 50.0
        assert torch.equal(net(far)[0, 0, 48, 48], base)
        near = x.clone()
        near[..., 48 - 20, 48] = 50.0  # well inside: it matters
        assert not torch.equal(net(near)[0, 0, 48, 48], base)


def test_a_patch_does_not_depend_on_the_others_in_its_batch():
    net = _random_net()
    a = torch.randn(1, 5, 64, 64)
    b = torch.randn(1, 5, 64, 64)
    with torch.no_grad():
        alone = net(a)
        together = net(torch.cat([a, b]))[:1]
        b[..., :32] = 1.0e3  # whatever the other patch holds
        other = net(torch.cat([a, b]))[:1]
    scale = float(alone.abs().max())
    assert float((alone - together).abs().max()) <= 1e-4 * scale  # kernel choice only
    assert float((together - other).abs().max()) <= 1e-4 * scale


def test_read_back_renormalises_over_usable_pixels():
    image = torch.zeros(1, 5, 2, 2)
    image[0, 2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # prior
    image[0, 3] = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # (1, 1) not usable
    rho = torch.full((1, 1, 2, 2), 0.5)
    rows = torch.tensor([[0.5, 0.0, 5.0]])
    cols = torch.tensor([[0.5, 1.0, 5.0]])
    value, reached = read_back(image, rho, rows, cols)
    # centre: usable (1.5, 2.5, 3.5) each weight 1/4, renormalised: 2.5; (0, 1): 2.5
    np.testing.assert_allclose(value.numpy()[0, :2], [2.5, 2.5], rtol=1e-6)
    assert reached.numpy().tolist() == [[True, True, False]]


def test_an_untrained_network_returns_the_radial_prior():
    net = PolarResidualNet()  # zero head
    rng = np.random.default_rng(0)
    y = rng.random((48, 48))
    holes = np.zeros((48, 48), bool)
    holes[16:32, 16:32] = True
    known = ~holes
    hy, hx = np.nonzero(holes)
    patch = pt.PolarPatch.around(hy, hx, (24.0, -200.0), context=net.context,
                                 multiple=net.multiple)
    inputs = pt.patch_inputs(patch, y, known, np.ones_like(known), hy, hx)
    image = torch.from_numpy(batch_patches([inputs.image]))
    with torch.no_grad():
        rho = net(image)
    assert torch.count_nonzero(rho) == 0
    rows = torch.from_numpy(inputs.rows[None].astype(np.float32))
    cols = torch.from_numpy(inputs.cols[None].astype(np.float32))
    value, _ = read_back(image, rho, rows, cols)
    prior, _ = read_back(image, torch.zeros_like(rho), rows, cols)
    torch.testing.assert_close(value, prior)


def test_batch_patches_pads_with_unusable_pixels():
    a = np.ones((5, 8, 12), np.float32)
    b = np.ones((5, 12, 8), np.float32)
    out = batch_patches([a, b])
    assert out.shape == (2, 5, 12, 12)
    assert out[0, :, 8:].sum() == 0 and out[1, :, :, 8:].sum() == 0


def test_smooth_prior_hand_value_is_the_weighted_mean_when_symmetric():
    """5 x 5 patch, half-width 2: triangular weights t(d) = 5 - |d|, i.e. 3 4 5 4 3 across the
    patch about its centre. The centre is the hole, every other pixel known and symmetric about
    it, so the slope terms vanish and the fit is the weighted mean: one pixel of value 1 at
    (2, 1) (weight t(0) t(-1) = 20) among weights summing to 19^2 - 5^2 = 336: 20/336 = 5/84."""
    v = np.zeros((5, 5))
    v[2, 1] = 1.0
    known = np.ones((5, 5), bool)
    known[2, 2] = False
    out = pt.smooth_prior(v, known, np.ones_like(known), 2)
    assert out[2, 2] == pytest.approx(5.0 / 84.0, rel=1e-6)  # float32 moments
    np.testing.assert_array_equal(out[known], v[known])


def test_smooth_prior_reproduces_a_plane_and_averages_noise():
    yy, xx = np.mgrid[0:40, 0:40].astype(float)
    plane = 3.0 + 0.5 * yy - 0.25 * xx  # (17, 20): 3 + 8.5 - 5 = 6.5
    known = np.ones((40, 40), bool)
    known[10:26, 12:28] = False
    out = pt.smooth_prior(plane, known, np.ones_like(known), 6)
    assert out[17, 20] == pytest.approx(6.5, abs=1e-5)  # float32 moments
    np.testing.assert_allclose(out[~known], plane[~known], atol=1e-5)
    # white noise of unit variance: the fill is an average of many edge pixels
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(88, 88))
    known = np.ones((88, 88), bool)
    known[24:60, 24:60] = False
    out = pt.smooth_prior(noise, known, np.ones_like(known), 12)
    assert out[~known].std() < 0.1


def test_smooth_prior_degenerate_and_unreached_pixels():
    """Known pixels on one column only: the slope across it is undetermined, so the weighted
    mean (of the column's values 1..) is used; pixels farther than 2 h: NaN; unusable: 0."""
    v = np.zeros((9, 12))
    known = np.zeros((9, 12), bool)
    known[:, 0] = True
    v[:, 0] = 7.0
    usable = np.ones_like(known)
    usable[0, 5] = False
    out = pt.smooth_prior(v, known, usable, 2)
    np.testing.assert_allclose(out[:, 1:5], 7.0)  # within reach (2 h = 4) of column 0
    assert np.isnan(out[:, 5:][usable[:, 5:]]).all()
    assert out[0, 5] == 0.0


def test_the_smooth_network_chooses_between_the_priors():
    """read_back of a smooth network: radial + sigmoid(a) (smooth - radial) + rho."""
    image = torch.zeros(1, 6, 2, 2)
    image[0, 2] = 1.0  # radial prior
    image[0, 3] = 1.0  # usable
    image[0, 5] = 3.0  # smooth prior
    rows = torch.tensor([[0.5]])
    cols = torch.tensor([[0.5]])
    out = torch.zeros(1, 2, 2, 2)
    value, _ = read_back(image, out, rows, cols)
    assert value.item() == pytest.approx(2.0)  # a = 0: the mean of 1 and 3
    out[0, 0] = 0.25
    out[0, 1] = float(np.log(3.0))  # sigmoid = 3/4
    value, _ = read_back(image, out, rows, cols)
    assert value.item() == pytest.approx(1.0 + 0.75 * 2.0 + 0.25, rel=1e-6)
    net = PolarResidualNet(PatchNetConfig(smooth=True))
    assert net.inputs == 6 and net(torch.zeros(2, 6, 48, 48)).shape == (2, 2, 48, 48)
    assert PatchNetConfig.from_dict(PatchNetConfig(smooth=True).as_dict()).smooth
    assert not PatchNetConfig.from_dict({"widths": [24, 32], "depth": 2}).smooth
    with pytest.raises(ValueError):
        PatchNetConfig(smooth=True, prior="cartesian")
