"""Surround files heard on two speakers (or one): the ITU-R BS.775 downmix, by channel order (pure).

A surround file's channels come in one of two orders: WAVE, FLAC and everything ffmpeg decodes use
the SMPTE order (front left, right, centre, LFE, then the surrounds); Ogg Vorbis and Opus files, as
libsndfile returns them, the Vorbis order (front left, centre, right, the surrounds, LFE last; Vorbis I
specification, section 4.3.9). The downmix to stereo puts the centre into both sides and each
surround into its own side at −3 dB, and leaves the LFE out; mono is the mean of that stereo pair.
Mono and stereo sources (and channel counts the two orders do not define) are left to the plain mean.
Nothing is normalised: like mpv's default, a loud surround mix may reach full scale, and the player
clips it there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["layout", "to_mono", "to_stereo"]

_HALF_POWER = 0.5**0.5

_SMPTE = {3: "LRC", 4: "LRlr", 5: "LRClr", 6: "LRCFlr", 7: "LRCFblr", 8: "LRCFlrlr"}
_VORBIS = {3: "LCR", 4: "LRlr", 5: "LCRlr", 6: "LCRlrF", 7: "LCRlrbF", 8: "LCRlrlrF"}
_STEREO_GAINS = {
    "L": (1.0, 0.0),
    "R": (0.0, 1.0),
    "C": (_HALF_POWER, _HALF_POWER),
    "l": (_HALF_POWER, 0.0),
    "r": (0.0, _HALF_POWER),
    "b": (0.5, 0.5),
    "F": (0.0, 0.0),
}
"""Each channel's role (L/R front, C centre, l/r left/right surround, b back centre, F LFE) and its
gains into the left and right outputs."""


def layout(channels: int, *, vorbis_order: bool = False) -> str | None:
    """The roles of ``channels`` channels in the given order, one letter each; None for mono,
    stereo and channel counts the orders do not define."""
    return (_VORBIS if vorbis_order else _SMPTE).get(channels)


def _matrix(channels: int, vorbis_order: bool) -> np.ndarray | None:
    roles = layout(channels, vorbis_order=vorbis_order)
    if roles is None:
        return None
    return np.array([_STEREO_GAINS[role] for role in roles], dtype=np.float32)


def to_stereo(frames: np.ndarray, *, vorbis_order: bool = False) -> np.ndarray | None:
    """``frames`` [shape=(n, channels)] downmixed to [n, 2]; None when it is not a surround layout."""
    matrix = _matrix(frames.shape[1], vorbis_order)
    if matrix is None:
        return None
    return np.asarray(frames @ matrix.astype(frames.dtype, copy=False), dtype=frames.dtype)


def to_mono(frames: np.ndarray, *, vorbis_order: bool = False) -> np.ndarray:
    """``frames`` [shape=(n, channels)] as one channel: the mean of the stereo downmix for a surround
    layout (a 5.1 mix reads as loud as its stereo version, not ~9.5 dB quieter as the mean of six
    channels with two carrying the music), else the mean of the channels."""
    stereo = to_stereo(frames, vorbis_order=vorbis_order)
    source = frames if stereo is None else stereo
    return np.asarray(source.mean(axis=1), dtype=frames.dtype)
