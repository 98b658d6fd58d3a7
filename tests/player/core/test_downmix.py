"""The surround downmix (player/core/downmix.py): each channel to the side its order gives it."""

from __future__ import annotations

import numpy as np
import pytest

from player.core.downmix import layout, to_mono, to_stereo

HALF_POWER = 0.5**0.5


def _only(channel: int, channels: int = 6) -> np.ndarray:
    frames = np.zeros((3, channels), dtype=np.float32)
    frames[:, channel] = 1.0
    return frames


@pytest.mark.parametrize(("vorbis_order", "centre", "lfe"), [(False, 2, 3), (True, 1, 5)])
def test_the_centre_and_the_lfe_are_found_in_either_order(vorbis_order: bool, centre: int, lfe: int) -> None:
    assert to_mono(_only(centre), vorbis_order=vorbis_order) == pytest.approx(np.full(3, HALF_POWER))
    stereo = to_stereo(_only(centre), vorbis_order=vorbis_order)
    assert stereo is not None and stereo == pytest.approx(np.full((3, 2), HALF_POWER))
    assert not to_mono(_only(lfe), vorbis_order=vorbis_order).any()


def test_surrounds_go_to_their_own_side() -> None:
    left, right = to_stereo(_only(4)), to_stereo(_only(5))  # 5.1 back left, back right (SMPTE)
    assert left is not None and right is not None
    assert left[0] == pytest.approx([HALF_POWER, 0.0]) and right[0] == pytest.approx([0.0, HALF_POWER])
    side = to_stereo(_only(7, 8))  # 7.1 side right
    assert side is not None and side[0] == pytest.approx([0.0, HALF_POWER])


def test_a_front_pair_reads_as_its_stereo() -> None:
    """Music only in the front pair of a 5.1 file: the same mono as the stereo file (not a third of it)."""
    rng = np.random.default_rng(0)
    pair = rng.uniform(-0.5, 0.5, size=(100, 2)).astype(np.float32)
    surround = np.zeros((100, 6), dtype=np.float32)
    surround[:, :2] = pair
    assert to_mono(surround) == pytest.approx(to_mono(pair))
    assert to_mono(pair) == pytest.approx(pair.mean(axis=1))


@pytest.mark.parametrize("channels", [1, 2, 9, 12])
def test_other_channel_counts_are_the_plain_mean(channels: int) -> None:
    frames = np.arange(4 * channels, dtype=np.float32).reshape(4, channels)
    assert layout(channels) is None and to_stereo(frames) is None
    assert to_mono(frames) == pytest.approx(frames.mean(axis=1))
