"""player.desktop: ``cadence listen`` — the desktop listening session, one module per job.

Pure (no sound devices, threads, asyncio or clock; tested without I/O):

- ``keys``: key presses and stdin lines → commands.
- ``screen``: :class:`~player.desktop.screen.ListenState`, what the screen shows, and the choice of
  the next track.
- ``render``: the rich screen and the headless event lines.
- ``deck``: the pure core of playback — one track's frames with fades, positions, pause and skip.

Shells:

- ``devices``: sound devices found and opened through sounddevice, their WAV stand-ins, and the
  no-sound-card errors.
- ``playback``: tracks decoded and resampled block by block, played on a thread through a device.
- ``loop``: the session loop that wires the server connection, playback, the microphone and the
  keys together, and ``cmd_listen``, the CLI handler.
"""

from __future__ import annotations

__all__: list[str] = []
