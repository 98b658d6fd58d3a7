"""player.desktop: ``cadence listen`` — the desktop listening session and its sound devices."""

from __future__ import annotations

__all__: list[str] = []
