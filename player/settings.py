"""One frozen settings object, built once by ``player.cli`` and passed down.

No other module reads the environment or the command line: they take a :class:`Settings`. Every
default lives here and only here: the CLI's options default to "not given" and fall back to these,
and :class:`player.core.session.SessionLimits` is built from a Settings
(``SessionLimits.from_settings``). Closed sets (:data:`LogSync`, the Whisper engine) are ``Literal``
types, checked when a Settings is made, so an unknown value is an error, never a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from mood.asr_models import AsrModelName
from mood.endpoint import ENDPOINTING_MODES, EndpointingMode
from mood.transcribe import EngineName

__all__ = [
    "ASR_MODEL_NAMES",
    "HEURISTIC_INTERLEAVE_SHARE",
    "LOG_SYNCS",
    "LOG_URL_SCHEMES",
    "RETRAINED_INTERLEAVE_SHARE",
    "WHISPER_ENGINES",
    "AsrModelName",
    "EngineName",
    "LogSync",
    "Settings",
    "default_home",
]

LogSync = Literal["normal", "full"]
"""SQLite ``synchronous`` of the interaction log (see :attr:`Settings.log_sync`)."""
LOG_SYNCS: tuple[LogSync, ...] = get_args(LogSync)
LOG_URL_SCHEMES = ("postgresql://", "postgres://")
"""How a :attr:`Settings.log_url` begins (libpq's two spellings of a PostgreSQL connection URI)."""
WHISPER_ENGINES: tuple[EngineName, ...] = get_args(EngineName)
"""The speech recognisers (``mood.transcribe.EngineName``)."""
ASR_MODEL_NAMES: tuple[AsrModelName, ...] = get_args(AsrModelName)
"""The packaged Whisper models (``mood.asr_models.AsrModelName``)."""

RETRAINED_INTERLEAVE_SHARE = 0.5
"""Share of queues interleaved with a retrained challenger when :attr:`Settings.interleave_share` is None."""
HEURISTIC_INTERLEAVE_SHARE = 0.0
"""Share of queues interleaved with the skip-aware heuristic when :attr:`Settings.interleave_share` is
None: none, it is a known weaker policy (docs/ranking.md), shown to a listener only on request."""


def default_home(environ: Mapping[str, str]) -> Path:
    """``$CADENCE_HOME``, else ``$XDG_DATA_HOME/cadence``, else ``~/.local/share/cadence``."""
    if environ.get("CADENCE_HOME"):
        return Path(environ["CADENCE_HOME"]).expanduser()
    xdg = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg).expanduser() / "cadence"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the defaults a listener on their own machine wants.

    Raises (when made):
        ValueError: If ``whisper_engine``, ``asr_model`` or ``log_sync`` is not one of its closed set,
            ``log_url`` is not a ``postgresql://`` URL, or ``interleave_share``,
            ``promote_min_impressions`` or ``promote_alpha`` is out of range.
    """

    home: Path
    """Holds library.db, log.db and models/ (trained rankers)."""

    # library
    workers: int = max(1, (os.cpu_count() or 1))
    """Processes for `cadence scan`."""

    # mood
    whisper_engine: EngineName = "faster-whisper"
    """"faster-whisper" (default, CTranslate2) or "openai-whisper" (torch, optional extra)."""
    whisper_model: Path | None = None
    """A model directory (faster-whisper) or checkpoint (openai-whisper); None: :attr:`asr_model`."""
    asr_model: AsrModelName = "tiny.en"
    """The packaged Whisper the faster-whisper engine loads when ``whisper_model`` is None: "tiny.en"
    (bundled, English), "base" or "small" (multilingual, extras ``[asr-base]``/``[asr-small]``, joined
    once into ``HOME/asr/<model>``; see mood/asr_models.py)."""
    fitted_window: bool = True
    """Pad each utterance to a window fitted to its length instead of Whisper's 30 s."""
    asr_prompt: bool = False
    """Tell the recogniser the player's request words before each utterance (more spoken requests
    heard right, statements a little worse; mood.transcribe.VOCABULARY_PROMPT, docs/mood.md)."""
    second_hearing: bool = True
    """Without ``asr_prompt``: decode an utterance that sounds like a request but asks for nothing once
    more after the request words, and keep that reading if it asks for something (docs/mood.md)."""
    max_utterance_s: float = 30.0
    """Longest utterance analysed, seconds: the stream cuts speech there and the session refuses an
    utterance that reached it (``audio_too_long``)."""
    endpoint_silence_ms: int = 600
    """Silence that ends an utterance, ms; with smart endpointing the most it waits."""
    endpointing: EndpointingMode = "smart"
    """``smart``: decode hands-free speech while it is spoken (``transcript.partial``) and end an
    utterance sooner when it is a finished sentence or request (mood/endpoint.py); ``silence``: after
    ``endpoint_silence_ms`` of silence, one decode at the end (``--endpointing``)."""

    # server
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    """Shared secret clients present in ``hello`` (None: none needed; required beyond loopback)."""
    tls_cert: Path | None = None
    """PEM certificate chain: serve ``wss://`` and ``https://`` (a phone's browser opens the
    microphone only on https or localhost). Needs :attr:`tls_key`."""
    tls_key: Path | None = None
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
    send_timeout_s: float = 30.0
    """Deadline of every message the server sends, and the longest its send buffer may stay
    un-drained: a client that stops reading is disconnected after this long."""
    hello_timeout_s: float = 10.0
    """A connection must be authenticated by ``hello`` within this long (else close 1008)."""
    max_unauthenticated: int = 128
    """Connections waiting for their ``hello`` at once (they never take a session slot) …"""
    max_unauthenticated_per_address: int = 32
    """… and from one client address (loopback clients are capped only in all); a new connection
    beyond either cap closes the one that has waited longest (``too_many_sessions``, close 1013), so
    idle connections cannot keep a client out."""
    auth_backoff_s: float = 0.5
    """After a wrong token, the answer to the next wrong one from that address waits this long,
    doubling with each failure (up to :attr:`auth_backoff_max_s`); a right token resets it."""
    auth_backoff_max_s: float = 30.0
    media_url_ttl_s: float = 6 * 3600.0
    """How long the signed ``audio_url``/``art_url`` of a queued track stay valid (with a token)."""
    max_http_streams: int = 64
    """Audio responses streaming at once; beyond, HTTP 503 with ``Retry-After``."""
    max_transcodes: int = 24
    """Of those, transcoded on the fly at once (each an ffmpeg process)."""
    max_text_bytes: int = 64 * 1024
    """Largest text frame a session accepts; larger ones get ``frame_too_large`` and are dropped."""
    max_binary_bytes: int = 256 * 1024
    """Largest binary (audio) frame a session accepts."""
    messages_per_s: float = 20.0
    """Per-connection token bucket for text messages: refill rate …"""
    message_burst: float = 40.0
    """… and capacity; excess messages get `rate_limited`."""
    audio_speedup: float = 8.0
    """Audio may arrive this many times faster than real time on average …"""
    audio_burst_s: float = 60.0
    """… after a burst of this many seconds of audio (a whole file streamed at once)."""
    queue_count: int = 10
    """Tracks per ``queue`` until the client asks otherwise with ``next``."""
    interleave_share: float | None = None
    """Share of queues (0–1) team-drafted from the shipped ranker and a challenger (docs/ranking.md,
    "Interleaving"). None, the default: 0.5 when ``cadence train`` has installed a retrained challenger
    (``HOME/models/challenger.onnx``), else 0 — the skip-aware heuristic, the challenger when there is
    no retrained one, is interleaved only on a share set here (``--interleave-share``)."""
    log_sync: LogSync = "normal"
    """SQLite ``synchronous`` of the interaction log (WAL): "normal" — an acknowledged event survives
    a crash or ``kill -9`` of the server; "full" — it also survives a power cut, at one fsync per
    commit (see player/server/log.py). A PostgreSQL log (:attr:`log_url`) follows the PostgreSQL
    server's own ``synchronous_commit`` instead."""
    log_url: str | None = None
    """Where the interaction log lives: None — SQLite, ``HOME/log.db`` (one server); a
    ``postgresql://user:password@host:port/database`` URL — a PostgreSQL database that several
    servers (and `cadence train`, `forget`, …) share (``--log``; extra ``[postgres]``; see
    player/server/log_pg.py and docs/scale.md)."""

    # training
    promote_min_impressions: int = 200
    """Interleaved queues the listener reacted to (impressions) a retrained challenger needs before
    ``cadence train`` may promote it to the ranker."""
    promote_alpha: float = 0.05
    """Significance level of the sign test by which ``cadence train`` promotes a challenger."""

    def __post_init__(self) -> None:
        if self.whisper_engine not in WHISPER_ENGINES:
            raise ValueError(
                f"unknown Whisper engine {self.whisper_engine!r} (one of {', '.join(WHISPER_ENGINES)})"
            )
        if self.asr_model not in ASR_MODEL_NAMES:
            raise ValueError(f"unknown ASR model {self.asr_model!r} (one of {', '.join(ASR_MODEL_NAMES)})")
        if self.endpointing not in ENDPOINTING_MODES:
            raise ValueError(
                f"unknown endpointing {self.endpointing!r} (one of {', '.join(ENDPOINTING_MODES)})"
            )
        if self.log_sync not in LOG_SYNCS:
            raise ValueError(f"unknown log sync {self.log_sync!r} (one of {', '.join(LOG_SYNCS)})")
        if self.log_url is not None and not self.log_url.startswith(LOG_URL_SCHEMES):
            raise ValueError(
                f"the log must be a postgresql:// URL (the SQLite log is HOME/log.db), got {self.log_url!r}"
            )
        if self.interleave_share is not None and not 0.0 <= self.interleave_share <= 1.0:
            raise ValueError(f"interleave share must be within 0–1, got {self.interleave_share}")
        if self.promote_min_impressions < 0:
            raise ValueError(f"promote_min_impressions must be >= 0, got {self.promote_min_impressions}")
        if not 0.0 < self.promote_alpha < 1.0:
            raise ValueError(f"promote_alpha must be within (0, 1), got {self.promote_alpha}")

    @property
    def library_db(self) -> Path:
        return self.home / "library.db"

    @property
    def log_db(self) -> Path:
        return self.home / "log.db"

    @property
    def log_location(self) -> Path | str:
        """The interaction log this process opens: :attr:`log_url` if set, else :attr:`log_db`
        (``player.server.logstore.open_log_at`` takes either)."""
        return self.log_url if self.log_url is not None else self.log_db

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def asr_dir(self) -> Path:
        """Where the base/small Whisper weights are joined from their packages (``HOME/asr``)."""
        return self.home / "asr"

    @property
    def url(self) -> str:
        """``ws://host:port`` of a server with these settings (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.tls_cert else 'ws'}://{host}:{self.port}"
