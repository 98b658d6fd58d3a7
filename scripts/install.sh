#!/usr/bin/env bash
# Install Cadence on a fresh Debian/Ubuntu machine: the apt packages it needs, a virtualenv in .venv,
# and the project with all its extras. Everything comes from Debian's and PyPI's registries; nothing
# is downloaded at run time. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# espeak-ng: speech for the mood tests; extremetuxracer-data: real music for tests and benchmarks;
# libportaudio2: sounddevice; libsndfile1: soundfile; alsa-utils + plugins: the virtual sound card tests;
# ffmpeg: transcoding tracks a browser can't play; chromium + chromium-driver: the web client's tests
# (driven by Playwright's Python package through /usr/bin/chromium: no browser is downloaded);
# openssl: the TLS test makes a self-signed certificate; postgresql: the shared-log tests run a real
# PostgreSQL server (tests/support/postgres.py starts its own, in a temporary directory).
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    espeak-ng extremetuxracer-data libportaudio2 libsndfile1 alsa-utils libasound2-plugins sox \
    ffmpeg chromium chromium-driver openssl postgresql \
    >/dev/null

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch 2.13.0 is the CPU build available on this kind of machine; installing it first keeps the
# openai-whisper extra from pulling a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[train,openai-whisper,dev,asr-base,cluster,postgres]"
# Compile librosa's numba kernels once, now, into numba's cache next to librosa (or $NUMBA_CACHE_DIR),
# where every later scan, server and test process loads them: a fresh scan worker then starts in about
# a second instead of compiling for tens of seconds (player/library/warm.py).
.venv/bin/python -m player.library.warm
echo "cadence installed in .venv"
