"""The command line: settings parsing and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.cli import build_parser, main, settings_from_args
from player.settings import default_home


def test_home_defaults_follow_cadence_home_then_xdg() -> None:
    """--home wins; else $CADENCE_HOME; else $XDG_DATA_HOME/cadence; else ~/.local/share/cadence."""
    assert default_home({"CADENCE_HOME": "/a"}) == Path("/a")
    assert default_home({"XDG_DATA_HOME": "/x"}) == Path("/x/cadence")
    assert str(default_home({})).endswith(".local/share/cadence")
    args = build_parser().parse_args(["library", "--home", "/h"])
    assert settings_from_args(args, {"CADENCE_HOME": "/a"}).home == Path("/h")
    args = build_parser().parse_args(["library"])
    assert settings_from_args(args, {"CADENCE_HOME": "/a"}).home == Path("/a")


def test_server_options_become_settings() -> None:
    """Server flags land in the frozen settings object."""
    args = build_parser().parse_args(
        ["serve", "--home", "/h", "--port", "9999", "--token", "t", "--allow-origin", "https://a.example"]
    )
    s = settings_from_args(args, {})
    assert (s.port, s.token, s.allowed_origins) == (9999, "t", ("https://a.example",))
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_unknown_subcommand_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown subcommand is a usage error, not a traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
