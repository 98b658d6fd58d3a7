"""player/: the Cadence backend: music library, listener state, ranking, server, desktop session."""

from __future__ import annotations

__all__: list[str] = []
