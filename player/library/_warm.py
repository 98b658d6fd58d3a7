"""Imported by the scan pool's forkserver: warms the analysis once so every forked worker starts
with librosa's numba kernels compiled and the lyrics' text model loaded (see :mod:`player.library.scan`)."""

from __future__ import annotations

from player.library import lyrics
from player.library.features import single_threaded_blas, warm_up

__all__: list[str] = []

single_threaded_blas()
warm_up()
lyrics.warm_up()
