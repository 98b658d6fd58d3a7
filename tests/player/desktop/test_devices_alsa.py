"""`cadence listen` against a real PortAudio: no sound card, an unknown device, the device list.

Each test runs ``python -m player listen`` in a subprocess with an ALSA configuration of its own
(none at all, or a virtual card made of ALSA's ``file`` and ``null`` plugins). Slow tier: real
audio devices through sounddevice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PYTHON = sys.executable

pytestmark = pytest.mark.slow


def _run_listen(args: list[str], alsa_conf: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{alsa_conf}", CADENCE_HOME=str(home))
    return subprocess.run(
        [PYTHON, "-m", "player", "listen", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_no_sound_card_exits_2_with_advice(tmp_path: Path) -> None:
    """With no sound devices at all, `cadence listen` exits 2 naming the problem and the options, no traceback."""
    conf = tmp_path / "asoundrc"
    conf.write_text("# no devices defined here\n")
    result = _run_listen([], conf, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error [no_audio_device]" in result.stderr
    assert "--list-devices" in result.stderr and "--output-device" in result.stderr


def test_unknown_device_name_lists_the_choices(tmp_path: Path) -> None:
    """An --output-device that matches nothing is refused with the names that exist."""
    conf = tmp_path / "asoundrc"
    conf.write_text(_virtual_card(tmp_path))
    result = _run_listen(["--output-device", "no-such-speaker"], conf, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no-such-speaker" in result.stderr and "cadence_speaker" in result.stderr


def test_list_devices_shows_the_virtual_card(tmp_path: Path) -> None:
    """`cadence listen --list-devices` prints the devices PortAudio sees, with their channels."""
    conf = tmp_path / "asoundrc"
    conf.write_text(_virtual_card(tmp_path))
    result = _run_listen(["--list-devices"], conf, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "cadence_mic" in result.stdout and "cadence_speaker" in result.stdout


def _virtual_card(directory: Path) -> str:
    raw = directory / "silence.raw"
    raw.write_bytes(b"\0" * 3200)
    return f"""
pcm.cadence_mic {{
    type plug
    slave {{ pcm {{ type file slave.pcm "null" file "/dev/null" infile "{raw}" format "raw" }}
            format S16_LE rate 16000 channels 1 }}
    hint {{ show on description "Cadence test microphone" }}
}}
pcm.cadence_speaker {{
    type plug
    slave {{ pcm {{ type file slave.pcm "null" file "{directory / "played.raw"}" format "raw" }}
            format S16_LE rate 44100 channels 2 }}
    hint {{ show on description "Cadence test speaker" }}
}}
"""
