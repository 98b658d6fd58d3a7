"""models/: the ranker's life outside serving: simulator, training, evaluation, shipped model files."""

from __future__ import annotations

__all__: list[str] = []
