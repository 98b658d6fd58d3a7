"""player.library: scanning audio, extracting features, the feature store and the demo catalog.

The track record itself is :class:`player.core.track.Track`: the core ranks it without touching a file.
"""

from __future__ import annotations

__all__: list[str] = []
