"""The player's own subcommands: `cadence serve`, `cadence mood`, `cadence models`, `cadence forget`,
`cadence listeners`, `cadence backup`.

Handlers only: each takes ``(settings, args)``, asks :mod:`player.app` for the engines it needs and
returns the exit status (``player.cli`` dispatches here, lazily). The library's commands are in
``player.library.commands``, the ranker's in ``models.commands``, `cadence listen` in
``player.desktop.app`` and `cadence client` in ``player.client``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mood.errors import CadenceError
from mood.types import MoodEstimate
from player.settings import Settings

if TYPE_CHECKING:
    from player.core.mixes import Mix
    from player.core.track import Track

__all__ = [
    "backup_root",
    "cmd_backup",
    "cmd_forget",
    "cmd_listeners",
    "cmd_models",
    "cmd_mood",
    "cmd_serve",
    "format_estimate",
]


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence serve`: load the engines, then serve until SIGINT or SIGTERM.

    Raises:
        CadenceError: If the address needs a token, or an engine cannot be loaded.
    """
    from player.app import preparing_note, serve
    from player.server.shell import page_url

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        def announce(url: str) -> None:
            page = page_url(url) + ("?token=YOUR_TOKEN (once per browser)" if settings.token else "")
            note = preparing_note(settings)
            print(
                f"cadence: ready on {url} — web client: {page} — "
                + (f"{note} — " if note else "")
                + f'or try `cadence client --url {url} --text "I\'m exhausted"`',
                flush=True,
            )

        await serve(settings, ready=announce, stop=stop)

    asyncio.run(main())
    return 0


def format_estimate(estimate: MoodEstimate) -> str:
    """One human line: label, valence, energy, confidence, transcript and intents."""
    line = (
        f"{estimate.label:8s} valence {estimate.valence:.2f}  energy {estimate.energy:.2f}  "
        f"confidence {estimate.confidence:.2f}"
    )
    if estimate.transcript:
        line += f"  “{estimate.transcript}”"
    if estimate.intents:
        line += "  intents: " + ", ".join(f"{i.kind} ({i.strength:.1f})" for i in estimate.intents)
    return line


def cmd_mood(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence mood --text "..." | --wav FILE [--json]`: print one MoodEstimate.

    Raises:
        CadenceError: If the audio is unusable or a speech model cannot be loaded.
    """
    from player.app import build_analyzer

    analyzer = build_analyzer(settings)
    if args.text is not None:
        estimate = analyzer.analyze_text(args.text)
    else:
        from mood.audio import load_wav

        samples, rate = load_wav(Path(args.wav))
        estimate = analyzer.analyze_utterance(samples, rate)
    if args.json:
        print(json.dumps(estimate.to_dict(), ensure_ascii=False))
    else:
        print(format_estimate(estimate))
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence models whisper-convert [SRC_DIR] OUT.pt`: a CTranslate2 Whisper directory (the bundled
    tiny.en by default) to an openai-whisper checkpoint."""
    if args.models_command != "whisper-convert":  # argparse allows only known actions
        print(f"unknown models action {args.models_command!r}", file=sys.stderr)
        return 2
    paths: list[Path] = list(args.paths)
    if len(paths) > 2:
        print("usage: cadence models whisper-convert [SRC_DIR] OUT.pt", file=sys.stderr)
        return 2
    src, out = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
    from mood.whisper_convert import convert_ct2_to_openai

    written = convert_ct2_to_openai(src, out)
    print(f"wrote {written}")
    return 0


def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence forget --listener ID`: erase everything stored about a listener, then retrain the
    collaborative-filtering factors without them (or remove them when too little data remains)."""
    from player.server.logstore import open_log_at

    with open_log_at(settings.log_location) as log:
        erased = log.forget(args.listener)
        where = log.location
    print(f"forgot listener {args.listener}: {erased} rows erased from {where}")
    _retrain_cf_if_present(settings)
    return 0


def _retrain_cf_if_present(settings: Settings) -> None:
    """If ``HOME/cf.npz`` exists, retrain it from the log as it is now (``models.cf.retrain_cf``: the
    factors no longer carry anything of a listener just erased or made private) and say what happened."""
    from player.cf import cf_path

    if not cf_path(settings).exists():
        return
    from models.cf import retrain_cf

    print(f"collaborative filtering: {retrain_cf(settings).message}")


def cmd_listeners(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence listeners [--private ID | --public ID] [--json]`: list the log's listeners (id, events,
    last seen, private), or set one's private flag.

    A private listener's history is never used to learn anything for other listeners; making one
    private retrains ``HOME/cf.npz`` at once if it exists, making one public takes effect at the next
    `cadence train`.

    Raises:
        CadenceError: (``unknown_listener``) If the log has no listener with that id.
    """
    from player.server.logstore import display_location, log_present, open_log_at

    where = settings.log_location
    target = args.private if args.private is not None else args.public
    if target is not None:
        private = args.private is not None
        found = False
        if log_present(where):
            with open_log_at(where) as log:
                found = log.set_private(target, private)
        if not found:
            raise CadenceError(
                f"no listener {target!r} in {display_location(where)} (`cadence listeners` lists them)",
                code="unknown_listener",
            )
        if private:
            print(f"listener {target} is private: their history is not used for other listeners")
            _retrain_cf_if_present(settings)
        else:
            print(
                f"listener {target} is public: their history counts for others from the next `cadence train`"
            )
        return 0
    rows = []
    if log_present(where):
        with open_log_at(where) as log:
            rows = log.listener_rows()
    if args.json:
        print(json.dumps([
            {"listener_id": r.listener_id, "events": r.events, "first_seen_s": r.first_seen_s,
             "last_seen_s": r.last_seen_s, "private": r.private}
            for r in rows
        ], indent=2))  # fmt: skip
        return 0
    if not rows:
        print(f"no listeners in {display_location(where)}")
        return 0
    width = max(8, *(len(r.listener_id) for r in rows))
    print(f"{'listener':<{width}}  {'events':>7}  {'last seen':<16}  private")
    for r in rows:
        seen = datetime.fromtimestamp(r.last_seen_s).astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"{r.listener_id:<{width}}  {r.events:>7}  {seen:<16}  {'yes' if r.private else 'no'}")
    return 0


def listener_mixes(
    settings: Settings, listener_id: str | None, *, now: datetime | None = None
) -> tuple[list[Mix], dict[str, Track]]:
    """The listener's mixes from the library and their log (none logged: cold-start mixes), and the
    library's tracks by id. ``now``: the listener's local time (default: this machine's)."""
    from player.cf import CfModel, cf_path
    from player.core.mixes import MixBuilder
    from player.library.store import LibraryStore
    from player.server.logstore import log_present, open_log_at

    local = now or datetime.now().astimezone()
    with LibraryStore(settings.library_db) as store:
        tracks = store.tracks()
        added_at = store.scanned_at()
    events = []
    if listener_id is not None and log_present(settings.log_location):
        with open_log_at(settings.log_location) as log:
            events = log.events(listener_id)
    builder = MixBuilder(tracks, added_at=added_at, cf=CfModel.load(cf_path(settings)))
    mixes = builder.build(events, listener_local=local, now_s=local.timestamp())
    return mixes, {t.id: t for t in tracks}


def cmd_mixes(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence mixes [--listener ID] [--json]`: list the listener's mixes."""
    mixes, _ = listener_mixes(settings, args.listener)
    if args.json:
        print(json.dumps([
            {"id": m.id, "kind": m.kind, "title": m.title, "description": m.description,
             "count": len(m.track_ids), "refresh": m.refresh, "tracks": list(m.track_ids)}
            for m in mixes
        ], indent=2))  # fmt: skip
        return 0
    for m in mixes:
        print(f"{m.id:<15} {len(m.track_ids):>3} tracks  {m.title}")
    if not mixes:
        print("no mixes: the library is empty (cadence scan PATH)")
    return 0


def m3u8(title: str, tracks: list[Track]) -> str:
    """An extended M3U playlist (UTF-8): ``#EXTINF:seconds,Artist - Title`` and the file's path per track."""
    lines = ["#EXTM3U", f"#PLAYLIST:{title}"]
    for track in tracks:
        name = f"{track.artist} - {track.title}" if track.artist else track.title
        lines += [f"#EXTINF:{round(track.duration_s)},{name.replace(chr(10), ' ')}", track.path]
    return "\n".join(lines) + "\n"


def cmd_mix(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence mix ID --m3u FILE [--listener ID]`: write one mix as an M3U8 playlist.

    Raises:
        CadenceError: (``unknown_mix``) If the listener has no mix with that id now.
    """
    mixes, tracks = listener_mixes(settings, args.listener)
    mix = next((m for m in mixes if m.id == args.mix_id), None)
    if mix is None:
        known = ", ".join(m.id for m in mixes) or "none"
        raise CadenceError(
            f"no mix {args.mix_id!r} for this listener now (have: {known})", code="unknown_mix"
        )
    args.m3u.write_text(m3u8(mix.title, [tracks[i] for i in mix.track_ids]), encoding="utf-8")
    print(f"wrote {mix.title!r} ({len(mix.track_ids)} tracks) to {args.m3u}")
    return 0


def backup_root(settings: Settings) -> Path:
    """Where `cadence backup` puts its timestamped folders unless told otherwise: HOME/backups."""
    return settings.home / "backups"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence backup [--to DIR]`: copy log.db and library.db into ``DIR/YYYYmmdd-HHMMSS/`` (DIR:
    HOME/backups by default) with SQLite's online backup API, safe while the server runs.

    Each copy passes ``PRAGMA quick_check`` before it gets its name (``store.backup_database``). A
    database that is not there yet, or is empty (0 bytes), is skipped with a note; restoring is in
    docs/operations.md. Returns 0 when every database there was is backed up, 1 when there was
    nothing to back up, 2 when a copy failed (each failure printed as ``error [code]: message``, the
    other database still copied).

    Raises:
        BackupError: If the backup folder cannot be made.
    """
    from player.errors import BackupError, StoreError
    from player.library.store import library_recovery
    from player.server.log import log_recovery
    from player.storage import backup_database

    # The log first: nothing can rebuild it, while a rescan rebuilds the library.
    sources: list[tuple[Path, str]] = []
    candidates = [(settings.log_db, log_recovery), (settings.library_db, library_recovery)]
    if settings.log_url is not None:
        from player.server.logstore import display_location

        print(
            f"the interaction log is in PostgreSQL ({display_location(settings.log_url)}): back it up with "
            "pg_dump (docs/operations.md); copying library.db only",
            file=sys.stderr,
        )
        candidates = candidates[1:]
    for source, recovery in candidates:
        if source.exists() and source.stat().st_size > 0:
            sources.append((source, recovery(source)))
        else:
            state = "not there" if not source.exists() else "empty (0 bytes)"
            print(f"{source.name}: {source} is {state}; nothing to back up", file=sys.stderr)
    if not sources:
        print(f"no databases in {settings.home}: nothing backed up", file=sys.stderr)
        return 1
    root = Path(args.to).expanduser() if args.to else backup_root(settings)
    folder = root / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        folder.mkdir(parents=True)
    except OSError as exc:  # FileExistsError: another backup in the same second
        raise BackupError(f"cannot make the backup folder {folder}: {exc}") from exc
    failed = 0
    for source, recovery_text in sources:
        try:
            size = backup_database(source, folder / source.name, recovery=recovery_text)
        except StoreError as exc:
            print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        print(f"wrote {folder / source.name} ({size:,} bytes, quick_check ok)")
    if failed:
        if failed == len(sources):
            folder.rmdir()  # a failed copy is removed, so the folder is empty
        return 2
    print(f"backup complete in {folder}; to restore, see docs/operations.md")
    return 0
