"""One frozen settings object, built once by ``player.cli`` and passed down.

No other module reads the environment or the command line: they take a :class:`Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "default_home"]


def default_home(environ: Mapping[str, str]) -> Path:
    """``$CADENCE_HOME``, else ``$XDG_DATA_HOME/cadence``, else ``~/.local/share/cadence``."""
    if environ.get("CADENCE_HOME"):
        return Path(environ["CADENCE_HOME"]).expanduser()
    xdg = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg).expanduser() / "cadence"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the defaults a listener on their own machine wants."""

    home: Path
    """Holds library.db, log.db and models/ (trained rankers)."""

    # library
    workers: int = max(1, (os.cpu_count() or 1))
    """Processes for `cadence scan`."""

    # mood
    whisper_engine: str = "faster-whisper"
    """"faster-whisper" (default, CTranslate2) or "openai-whisper" (torch, optional extra)."""
    whisper_model: Path | None = None
    """A model directory (faster-whisper) or checkpoint (openai-whisper); None: the bundled tiny.en."""
    fitted_window: bool = True
    """Pad each utterance to a window fitted to its length instead of Whisper's 30 s."""
    max_utterance_s: float = 30.0
    endpoint_silence_ms: int = 600
    """Silence that ends an utterance."""

    # server
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    """Origin header values accepted from browsers (besides none at all, i.e. non-browser clients)."""
    max_sessions: int = 256
    speech_workers: int = 2
    """Threads running VAD, ASR and prosody off the event loop."""
    speech_queue: int = 4
    """Utterances allowed to wait for a speech worker before the server answers `busy`."""
    idle_timeout_s: float = 600.0
    """A connection that sends nothing for this long is closed (code 1001)."""
    ping_interval_s: float = 20.0
    """Seconds between keepalive pings (RFC 6455 section 5.5.2)."""
    ping_timeout_s: float = 20.0
    """A connection whose pong is this late is closed."""
    messages_per_s: float = 20.0
    """Per-connection token bucket for text messages: refill rate …"""
    message_burst: float = 40.0
    """… and capacity; excess messages get `rate_limited`."""
    log_sync: str = "normal"
    """SQLite ``synchronous`` of the interaction log (WAL): "normal" — an acknowledged event survives
    a crash or ``kill -9`` of the server; "full" — it also survives a power cut, at one fsync per
    commit (see player/log.py)."""

    @property
    def library_db(self) -> Path:
        return self.home / "library.db"

    @property
    def log_db(self) -> Path:
        return self.home / "log.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
