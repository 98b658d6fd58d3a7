"""The command line: settings parsing and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.cli import build_parser, main, settings_from_args
from player.settings import Settings, default_home


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


def test_options_not_given_fall_back_to_the_settings_defaults() -> None:
    """Without options, every command's settings equal Settings' own defaults: the CLI repeats none."""
    for argv in (["serve"], ["listen"], ["mood", "--text", "hi"], ["client", "--text", "hi"], ["library"]):
        args = build_parser().parse_args([*argv, "--home", "/h"])
        assert settings_from_args(args, {}) == Settings(home=Path("/h")), argv


def test_voice_and_log_options_become_settings() -> None:
    """Voice flags and --log-sync land in the settings, with their closed sets' values."""
    args = build_parser().parse_args(
        [
            "serve",
            "--whisper-engine",
            "openai-whisper",
            "--no-fitted-window",
            "--asr-prompt",
            "--no-second-hearing",
            "--max-utterance-s",
            "12",
            "--endpoint-silence-ms",
            "400",
            "--log-sync",
            "full",
        ]
    )
    s = settings_from_args(args, {})
    assert s.asr_prompt is True and s.second_hearing is False
    assert (s.whisper_engine, s.fitted_window, s.max_utterance_s, s.endpoint_silence_ms, s.log_sync) == (
        "openai-whisper",
        False,
        12.0,
        400,
        "full",
    )


@pytest.mark.parametrize(
    "argv", [["serve", "--log-sync", "fast"], ["mood", "--text", "x", "--whisper-engine", "whisper.cpp"]]
)
def test_unknown_closed_set_values_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown --log-sync or --whisper-engine is refused at parse time (exit 2), never silently replaced."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_settings_refuse_unknown_closed_set_values() -> None:
    """Settings made in code check their Literal fields too: an unknown value raises, it is not 'normal'."""
    with pytest.raises(ValueError, match="log sync"):
        Settings(home=Path("/h"), log_sync="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Whisper engine"):
        Settings(home=Path("/h"), whisper_engine="whisper.cpp")  # type: ignore[arg-type]


def test_client_url_defaults_to_the_settings_server() -> None:
    """`cadence client` without --url talks to ws://host:port of the settings (IPv6 in brackets)."""
    assert Settings(home=Path("/h")).url == "ws://127.0.0.1:8765"
    assert Settings(home=Path("/h"), host="::1", port=9).url == "ws://[::1]:9"
    assert build_parser().parse_args(["client", "--text", "hi"]).url is None


def test_interleave_share_option_becomes_settings_and_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """--interleave-share (serve, listen) lands in Settings; outside 0–1 or not a number it is a usage error."""
    for command in ("serve", "listen"):
        args = build_parser().parse_args([command, "--interleave-share", "0.25", "--home", "/h"])
        assert settings_from_args(args, {}).interleave_share == 0.25
    assert (
        settings_from_args(build_parser().parse_args(["serve", "--home", "/h"]), {}).interleave_share is None
    )
    for bad in ("1.5", "-0.1", "half"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["serve", "--interleave-share", bad])
        assert exc.value.code == 2
        assert "--interleave-share" in capsys.readouterr().err


def test_train_and_eval_live_options() -> None:
    """`train --min-impressions N` sets the promotion minimum; `eval --live --listener ID` parses."""
    args = build_parser().parse_args(["train", "--min-impressions", "80", "--home", "/h"])
    assert settings_from_args(args, {}).promote_min_impressions == 80
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--min-impressions", "-1"])
    args = build_parser().parse_args(["eval", "--live", "--listener", "ann", "--json"])
    assert (args.live, args.listener, args.json) == (True, "ann", True)


@pytest.mark.parametrize("command", [["serve"], ["listen"], ["mood", "--text", "hi"]])
def test_asr_model_option_reaches_the_analyzer_config(command: list[str]) -> None:
    """--asr-model on serve, listen and mood lands in Settings.asr_model and the analyzer config, with
    the joined weights under HOME/asr; without it the default is the bundled tiny.en."""
    from player.app import config_from_settings

    s = settings_from_args(build_parser().parse_args([*command, "--home", "/h", "--asr-model", "base"]), {})
    assert s.asr_model == "base"
    config = config_from_settings(s)
    assert (config.asr_model, config.asr_cache_dir, config.engine) == (
        "base",
        Path("/h/asr"),
        "faster-whisper",
    )
    default = settings_from_args(build_parser().parse_args([*command, "--home", "/h"]), {})
    assert default.asr_model == "tiny.en"
    assert config_from_settings(default).asr_model == "tiny.en"


def test_unknown_asr_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """An --asr-model outside tiny.en/base/small is a usage error; Settings made in code refuse it too."""
    with pytest.raises(SystemExit) as exc:
        main(["mood", "--text", "x", "--asr-model", "large"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ASR model"):
        Settings(home=Path("/h"), asr_model="large")  # type: ignore[arg-type]
