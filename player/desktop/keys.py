"""Keys and command lines of `cadence listen` → :class:`Command`. Pure: no terminal, no threads.

- :class:`KeyInterpreter`: single key presses (a TTY in cbreak mode) → commands, with a small line
  editor for typed moods (``t`` opens it, Enter sends, Escape cancels).
- :func:`parse_command_line`: one line of stdin (a pipe, a test) → a command.
- :data:`KEY_HELP`: the key legend the screen shows.

Reading the terminal itself (cbreak mode, the reader threads) is the loop's job
(:mod:`player.desktop.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KEY_HELP",
    "Command",
    "CommandKind",
    "KeyInterpreter",
    "parse_command_line",
]

CommandKind = Literal[
    "skip",
    "like",
    "dislike",
    "pause",
    "resume",
    "toggle_pause",
    "talk",
    "text",
    "more",
    "mixes",
    "mix",
    "quit",
]
"""What the listener can ask for: ``toggle_pause`` comes from a key, ``pause``/``resume`` from lines."""


@dataclass(frozen=True, slots=True)
class Command:
    """Something the listener asked the desktop player to do."""

    kind: CommandKind
    text: str = ""
    """The typed mood, for ``text``; for ``mix``, the mix: its id, its number in the last list shown
    (``1``–``9``), or "" to leave the mix."""


KEY_HELP = (
    "n skip · l like · d dislike · space pause · t type a mood · m talk/mute · "
    "x mixes, 1–9 play one, 0 all music · q quit"
)
"""The key legend at the foot of the screen."""

_KEYS: dict[str, CommandKind] = {
    "n": "skip",
    "s": "skip",
    "l": "like",
    "+": "like",
    "d": "dislike",
    "-": "dislike",
    " ": "toggle_pause",
    "p": "toggle_pause",
    "m": "talk",
    "x": "mixes",
    "q": "quit",
}
_TYPE_KEYS = ("t", "/")
_ESC = "\x1b"
_BACKSPACE = ("\x7f", "\x08")
_ENTER = ("\r", "\n")


class KeyInterpreter:
    """Turns single key presses (cbreak mode) into commands, with a line editor for typed moods.

    ``t`` (or ``/``) opens the editor; printable keys then go into :attr:`buffer`, backspace
    deletes, Enter sends a ``text`` command and Escape cancels. Unknown keys do nothing.
    """

    def __init__(self) -> None:
        self.typing = False
        self.buffer = ""

    def feed(self, keys: str) -> list[Command]:
        """Key presses as they arrive (one or more characters) → the commands they complete, in order."""
        commands: list[Command] = []
        for key in keys:
            command = self._key(key)
            if command is not None:
                commands.append(command)
        return commands

    def _key(self, key: str) -> Command | None:
        if self.typing:
            if key in _ENTER:
                text, self.buffer, self.typing = self.buffer.strip(), "", False
                return Command("text", text) if text else None
            if key == _ESC:
                self.buffer, self.typing = "", False
            elif key in _BACKSPACE:
                self.buffer = self.buffer[:-1]
            elif key.isprintable():
                self.buffer += key
            return None
        if key in _TYPE_KEYS:
            self.typing = True
            self.buffer = ""
            return None
        if key.isdigit() and key.isascii():
            return Command("mix", "" if key == "0" else key)
        kind = _KEYS.get(key)
        return Command(kind) if kind is not None else None


_LINE_COMMANDS: dict[str, CommandKind] = {
    "skip": "skip",
    "next": "skip",
    "n": "skip",
    "s": "skip",
    "like": "like",
    "l": "like",
    "dislike": "dislike",
    "d": "dislike",
    "pause": "pause",
    "resume": "resume",
    "play": "resume",
    "p": "toggle_pause",
    "talk": "talk",
    "mic": "talk",
    "m": "talk",
    "more": "more",
    "refresh": "more",
    "mixes": "mixes",
    "quit": "quit",
    "exit": "quit",
    "q": "quit",
}


def parse_command_line(line: str) -> Command | None:
    """One line of stdin (no TTY) → a command.

    A command word (``skip``, ``like``, ``dislike``, ``pause``, ``resume``, ``talk``, ``more``,
    ``mixes``, ``quit`` and their one-letter forms), ``mix ID`` (an id or a number from the list;
    ``mix off`` leaves the mix), ``text …`` / ``say …`` for a typed mood, and any other non-blank
    line is taken as a typed mood too. Blank lines give None.
    """
    stripped = line.strip()
    if not stripped:
        return None
    word, _, rest = stripped.partition(" ")
    lowered = word.lower()
    if lowered in ("text", "say") and rest.strip():
        return Command("text", rest.strip())
    if lowered == "mix" and rest.strip() and " " not in rest.strip():
        target = rest.strip()
        return Command("mix", "" if target.lower() in ("off", "none", "all") else target)
    if not rest and lowered in _LINE_COMMANDS:
        return Command(_LINE_COMMANDS[lowered])
    return Command("text", stripped)
