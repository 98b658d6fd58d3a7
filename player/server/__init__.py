"""player.server: the asyncio shell — websocket server (``shell``), the interaction log store (``log``),
its group-commit writer thread (``writer``), and a `cadence serve` child-process launcher (``launch``)."""

from __future__ import annotations

__all__: list[str] = []
