"""The player's own subcommands through the CLI: `cadence mood`, `cadence models`, `cadence serve`."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from player.cli import main
from player.commands import format_estimate

ESTIMATE_FIELDS = {
    "valence",
    "energy",
    "confidence",
    "valence_confidence",
    "energy_confidence",
    "label",
    "transcript",
    "intents",
    "evidence",
}


def _corpus_module() -> ModuleType:
    from tests.support import mood_corpus

    return mood_corpus


def test_mood_text_json_prints_one_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence mood --text ... --json` prints one JSON object with the MoodEstimate field names."""
    assert (
        main(["mood", "--home", str(tmp_path), "--text", "I'm exhausted, play something calmer", "--json"])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    data = json.loads(out[0])
    assert set(data) == ESTIMATE_FIELDS
    assert data["energy"] < 0.4
    assert data["intents"][0]["kind"] == "calmer"
    assert data["transcript"] == "I'm exhausted, play something calmer"


def test_mood_text_human_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json, one short human line with the label and the numbers."""
    assert main(["mood", "--home", str(tmp_path), "--text", "what a wonderful day"]) == 0
    out = capsys.readouterr().out.strip()
    assert "valence" in out and "energy" in out and "\n" not in out
    assert out.split()[0] in ("happy", "content", "excited")


@pytest.mark.slow
def test_mood_wav_json_through_the_real_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence mood --wav FILE --json` transcribes an espeak-ng WAV and reads its mood."""
    corpus = _corpus_module()
    wav = corpus.synthesize("I am so disappointed and upset with this.", "en-us", 1, tmp_path / "sad.wav")
    assert main(["mood", "--home", str(tmp_path), "--wav", str(wav), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == ESTIMATE_FIELDS | {"language"}  # heard speech reports its language
    assert data["language"] == "en"
    assert "disappointed" in data["transcript"].lower()
    assert data["valence"] < 0.4
    assert {"prosody", "text", "weights"} <= set(data["evidence"])


def test_mood_wav_errors_are_coded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A silent WAV exits with status 2 and `error [audio_silent]`."""
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "silent.wav"
    sf.write(wav, np.zeros(16000, np.int16), 16000, subtype="PCM_16")
    assert main(["mood", "--home", str(tmp_path), "--wav", str(wav)]) == 2
    assert "error [audio_silent]" in capsys.readouterr().err


def test_models_whisper_convert_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """More than two paths is a usage error (exit 2), not a conversion."""
    assert main(["models", "--home", str(tmp_path), "whisper-convert", "a", "b", "c"]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.slow
def test_models_whisper_convert_bundled_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence models whisper-convert OUT.pt` converts the bundled tiny.en into a loadable checkpoint."""
    import torch

    out = tmp_path / "tiny.en.pt"
    assert main(["models", "--home", str(tmp_path), "whisper-convert", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    checkpoint = torch.load(out, map_location="cpu", weights_only=False)
    assert checkpoint["dims"]["n_text_layer"] == 4  # tiny
    assert any(k.startswith("encoder.") for k in checkpoint["model_state_dict"])


def test_format_estimate_mentions_intents() -> None:
    """The human line lists intents with their strength."""
    from mood.types import Intent, MoodEstimate

    line = format_estimate(MoodEstimate(0.7, 0.3, 0.8, "content", "skip", (Intent("skip", 0.7, "skip"),)))
    assert line.startswith("content") and "skip (0.7)" in line and "“skip”" in line


def test_serve_refuses_an_exposed_address_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence serve --host 0.0.0.0` without a token exits 2 with `token_required`, no library built."""
    assert main(["serve", "--home", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "error [token_required]" in capsys.readouterr().err
    assert not (tmp_path / "library.db").exists()


@pytest.mark.integration
def test_mixes_and_an_m3u8_playlist_from_the_cli(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence mixes --json` on the demo library (a new listener: the cold-start mixes), then `cadence
    mix workout --m3u` writes an extended M3U whose entries are the mix's tracks, in order, as files."""
    from tests.support.server import copy_library

    home = tmp_path / "home"
    copy_library(demo_home, home)
    assert main(["mixes", "--home", str(home), "--listener", "nobody-yet", "--json"]) == 0
    mixes = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert {"workout", "sleep", "focus", "party", "chill", "daylist", "discover"} <= set(mixes)
    assert "on-repeat" not in mixes, "no history, no On Repeat"
    for mix in mixes.values():
        assert mix["count"] == len(mix["tracks"]) == len(set(mix["tracks"])) >= 5

    playlist = tmp_path / "workout.m3u8"
    assert main(["mix", "workout", "--home", str(home), "--m3u", str(playlist)]) == 0
    lines = playlist.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == f"#PLAYLIST:{mixes['workout']['title']}"
    entries = list(zip(lines[2::2], lines[3::2], strict=True))
    assert len(entries) == mixes["workout"]["count"]
    from player.library.store import LibraryStore

    with LibraryStore(home / "library.db") as store:
        by_path = {t.path: t for t in store.tracks()}
    assert [by_path[path].id for _, path in entries] == mixes["workout"]["tracks"]
    for extinf, path in entries:
        seconds, _, name = extinf.removeprefix("#EXTINF:").partition(",")
        assert int(seconds) == round(by_path[path].duration_s)
        assert name == f"{by_path[path].artist} - {by_path[path].title}"
        assert Path(path).is_file()

    # An independent reader (the `m3u8` package, written for HLS players) sees the same entries.
    import m3u8

    parsed = m3u8.load(str(playlist))
    assert [seg.uri for seg in parsed.segments] == [path for _, path in entries]
    assert [seg.duration for seg in parsed.segments] == [round(by_path[p].duration_s) for _, p in entries]
    assert [seg.title for seg in parsed.segments] == [
        f"{by_path[p].artist} - {by_path[p].title}" for _, p in entries
    ]

    assert main(["mix", "no-such-mix", "--home", str(home), "--m3u", str(tmp_path / "x.m3u8")]) == 2
    assert "unknown_mix" in capsys.readouterr().err
