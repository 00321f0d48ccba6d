"""Training augmentations and inference that are ours, not the paper's: rotation, the eight
symmetries of the square at inference, and the cosine learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lascoproc.degradation.data import rotate_frames
from lascoproc.degradation.model import predict
from lascoproc.degradation.train import TrainOptions


def test_quarter_turn_moves_pixel_centres_onto_pixel_centres():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    turned = rotate_frames(x, np.array([math.pi / 2, 0.0]))
    # angle 0: unchanged; a quarter turn: a permutation of the pixels (no interpolation)
    torch.testing.assert_close(turned[1], x[1])
    # written out: output (row 0, column 7) takes input (7, 7), output (7, 7) input (7, 0)
    assert turned[0, 0, 0, 7] == x[0, 0, 7, 7] == 63.0
    assert turned[0, 0, 7, 7] == x[0, 0, 7, 0] == 56.0
    torch.testing.assert_close(turned[0], torch.rot90(x[0], 1, dims=(-2, -1)))


def test_rotation_keeps_a_round_disk_round():
    n = 32
    yy, xx = np.indices((n, n)) - (n - 1) / 2
    disk = (np.hypot(yy, xx) < 10).astype(np.float32)
    x = torch.from_numpy(disk)[None, None]
    turned = rotate_frames(x, np.array([0.7]))[0, 0].numpy()
    assert abs(turned.sum() - disk.sum()) < 0.02 * disk.sum()
    # inside, far from the rim, the disk stays exactly 1; outside it stays 0
    r = np.hypot(yy, xx)
    np.testing.assert_allclose(turned[r < 8], 1.0, atol=1e-6)
    np.testing.assert_allclose(turned[r > 12], 0.0, atol=1e-6)


class _Corner(torch.nn.Module):
    """Reads one corner pixel: not symmetric, so each copy gives another answer."""

    def forward(self, x):
        return x[:, :, 0, 0]


def test_symmetric_prediction_is_the_mean_of_the_four_corners():
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, 0, 0], x[0, 0, 0, 3], x[0, 0, 3, 0], x[0, 0, 3, 3] = 1.0, 2.0, 3.0, 6.0
    x[0, 1] = 5.0
    # eight symmetries: every corner comes to (0, 0) twice -> mean of the corners = 3
    torch.testing.assert_close(predict(_Corner(), x, symmetric=True),
                               torch.tensor([[3.0, 5.0]]))
    torch.testing.assert_close(predict(_Corner(), x, symmetric=False),
                               torch.tensor([[1.0, 5.0]]))


@pytest.mark.parametrize(("epoch", "seconds", "expected"), [
    (0, 0.0, 1e-3),
    (50, 0.0, 1e-3 * (0.01 + 0.99 * 0.5)),  # half the epochs: 0.505e-3
    (0, 300.0, 1e-3 * (0.01 + 0.99 * 0.5)),  # half the time budget
    (10, 450.0, 1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(0.75 * math.pi)))),  # 0.15492e-3
    (100, 0.0, 1e-5),
    (0, 900.0, 1e-5),  # past the budget: the floor
])
def test_cosine_schedule(epoch, seconds, expected):
    options = TrainOptions(epochs=100, max_seconds=600.0, schedule="cosine")
    assert options.learning_rate_at(epoch, seconds) == pytest.approx(expected, rel=1e-12)


def test_constant_schedule_and_bad_names():
    assert TrainOptions(schedule="constant").learning_rate_at(500, 1e6) == 1e-3
    with pytest.raises(ValueError, match="schedule"):
        TrainOptions(schedule="step")
