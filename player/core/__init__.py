"""player.core: the pure part of the backend — records, protocol, session core, listener state, ranking.

Nothing here opens a socket, starts a thread, reads a clock or touches a database: time and history come
in as arguments, and what must happen in the world goes out as effects (``player.core.session``). The
shells (``player.server``, ``player.desktop``, ``player.client``) feed it and carry its effects out;
``tests/player/core/test_imports.py`` fails if anything here imports I/O.
"""

from __future__ import annotations

__all__: list[str] = []
