"""player.server: the asyncio shell — websocket server (``shell``), the interaction log store (``log``)."""

from __future__ import annotations

__all__: list[str] = []
