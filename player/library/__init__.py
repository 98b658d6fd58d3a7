"""player.library: scanning audio, extracting features, the feature store and the demo catalog."""

from __future__ import annotations

from player.library.track import MFCC_COUNT, NUMERIC_FEATURES, Track, TrackId

__all__ = ["MFCC_COUNT", "NUMERIC_FEATURES", "Track", "TrackId"]
