"""Keys and command lines of `cadence listen` → commands (pure, unit tier)."""

from __future__ import annotations

from player.desktop.keys import Command, KeyInterpreter, parse_command_line


def test_keys_map_to_commands() -> None:
    """Single keys in cbreak mode give skip, like, dislike, pause, talk, quit, the mixes (x lists them,
    a digit plays one, 0 leaves the mix); others nothing."""
    keys = KeyInterpreter()
    assert keys.feed("nldpmqz ") == [
        Command("skip"), Command("like"), Command("dislike"), Command("toggle_pause"),
        Command("talk"), Command("quit"), Command("toggle_pause"),
    ]  # fmt: skip
    assert keys.feed("x30") == [Command("mixes"), Command("mix", "3"), Command("mix", "")]


def test_mix_command_lines() -> None:
    """`mixes`, `mix ID`, `mix 2` and `mix off` lines; `mix` with more words is a typed mood."""
    assert parse_command_line("mixes") == Command("mixes")
    assert parse_command_line("mix daily-2") == Command("mix", "daily-2")
    assert parse_command_line("mix 2") == Command("mix", "2")
    assert parse_command_line("mix off") == Command("mix", "")
    assert parse_command_line("mix it up a little") == Command("text", "mix it up a little")


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
