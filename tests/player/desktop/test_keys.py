"""Keys and command lines of `cadence listen` → commands (pure, unit tier)."""

from __future__ import annotations

from player.desktop.keys import Command, KeyInterpreter, parse_command_line


def test_keys_map_to_commands() -> None:
    """Single keys in cbreak mode give skip, like, dislike, pause, talk and quit; others nothing."""
    keys = KeyInterpreter()
    assert keys.feed("nldpmqx ") == [
        Command("skip"), Command("like"), Command("dislike"), Command("toggle_pause"),
        Command("talk"), Command("quit"), Command("toggle_pause"),
    ]  # fmt: skip


def test_typed_mood_editor() -> None:
    """`t` opens the editor; typed keys (even command letters) build the text; backspace, Enter, Escape work."""
    keys = KeyInterpreter()
    assert keys.feed("tI'm tiredd\x7f") == []
    assert keys.typing and keys.buffer == "I'm tired"
    assert keys.feed("\r") == [Command("text", "I'm tired")]
    assert not keys.typing
    assert keys.feed("tnope\x1bn") == [Command("skip")]  # Escape cancelled, then `n` skips
    assert keys.feed("t  \r") == []  # blank text is not sent


def test_command_lines() -> None:
    """Lines from a pipe: command words, `say …`, and any other line as a typed mood."""
    assert parse_command_line("skip\n") == Command("skip")
    assert parse_command_line("  Like ") == Command("like")
    assert parse_command_line("pause") == Command("pause")
    assert parse_command_line("resume") == Command("resume")
    assert parse_command_line("say skip this") == Command("text", "skip this")
    assert parse_command_line("I'm so tired") == Command("text", "I'm so tired")
    assert parse_command_line("   ") is None
