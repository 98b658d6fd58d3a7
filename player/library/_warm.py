"""Imported by the scan pool's forkserver: warms the analysis once so every forked worker starts
with librosa's numba kernels compiled (loaded from numba's cache after ``scripts/install.sh``, see
:mod:`player.library.warm`) and the lyrics' text model loaded (see :mod:`player.library.scan`)."""

from __future__ import annotations

from player.library import lyrics
from player.library.features import single_threaded_blas, warm_up
from player.library.warm import import_beat_tracker

__all__: list[str] = []

single_threaded_blas()
import_beat_tracker()  # before warm_up imports it: the beat tracker's kernels come from the cache too
warm_up()
lyrics.warm_up()
