"""Benchmark the voice path (speech in -> MoodEstimate) on a ~5-second espeak-ng utterance; prints JSON.

Measured side by side in one run:

- ``stream``: the live path. The utterance (with silence around it) is fed to
  ``MoodAnalyzer.open_stream`` in 20 ms chunks, as fast as it goes; VAD runs on every chunk while the
  "listener" speaks. Latency is counted from the moment the endpointer has heard enough silence
  (``endpoint_silence_ms`` after the end of speech, a wait set by configuration, not by compute) to the
  MoodEstimate: the VAD work in the chunk that closes the utterance, then ``analyze_utterance``
  (ASR, with prosody in parallel, text, fusion). Median and p90 over ``--repeats`` runs, split into
  the stages the analyzer reports.
- ``asr``: faster-whisper on the utterance with a fitted window and padded to 30 s; our openai-whisper
  engine fitted; and **stock** openai-whisper ``model.transcribe`` (30 s padding, the library's
  defaults) on the same converted tiny.en checkpoint; the ratios.
- ``first_utterance``: a fresh process (subprocess) that imports, builds the analyzer, warms it up and
  analyses the utterance: seconds from interpreter start to the first MoodEstimate, and its peak RSS.
- ``peak_rss_mb``: this process (which also holds torch and two openai-whisper models).

The machine is shared and noisy: the JSON records the load average before and after; compare only
figures from the same run.

    .venv/bin/python bench/voice.py [--repeats 15] [--stock-repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TEXT = "I had a really long and stressful day at work today, so please play something calm and quiet for me."
"""About five seconds at espeak-ng's default rate."""
CHUNK_MS = 20


def _espeak_utterance(out: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(out), TEXT], check=True, capture_output=True)
    return out


def _stats_ms(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000.0, 1),
        "p90_ms": round(p90 * 1000.0, 1),
        "n": len(ordered),
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _stream_once(analyzer: Any, pcm: bytes) -> dict[str, Any]:
    from mood.stream import Utterance

    stream = analyzer.open_stream(16000, 1, "s16le")
    chunk = CHUNK_MS * 16 * 2
    vad_total = 0.0
    for pos in range(0, len(pcm), chunk):
        started = time.perf_counter()
        out = stream.feed(pcm[pos : pos + chunk])
        vad_s = time.perf_counter() - started
        vad_total += vad_s
        utterances = [o for o in out if isinstance(o, Utterance)]
        if utterances:
            started = time.perf_counter()
            estimate = analyzer.analyze_utterance(utterances[0])
            analyze_s = time.perf_counter() - started
            timing = estimate.evidence.get("timing_ms", {})
            return {
                "end_to_end": vad_s + analyze_s,
                "vad": vad_s,
                "asr": timing.get("asr", float("nan")) / 1000.0,
                "prosody_parallel": timing.get("prosody", float("nan")) / 1000.0,
                "text": timing.get("text", float("nan")) / 1000.0,
                "fusion": timing.get("fusion", float("nan")) / 1000.0,
                "vad_whole_stream_off_path": vad_total,
                "utterance_s": utterances[0].duration_s,
                "speech_s": utterances[0].end_s - utterances[0].start_s,
                "transcript": estimate.transcript,
            }
    raise RuntimeError("the stream produced no utterance")


def _time_calls(fn: Any, repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def _first_utterance_child(wav: str) -> None:
    """Run in a fresh process: start -> warm analyzer -> first MoodEstimate."""
    from mood.analyzer import MoodAnalyzer, MoodConfig
    from mood.audio import load_wav

    imported = time.perf_counter()
    analyzer = MoodAnalyzer(MoodConfig())
    analyzer.warm_up()
    warmed = time.perf_counter()
    samples, rate = load_wav(Path(wav))
    estimate = analyzer.analyze_utterance(samples, rate)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": round(imported - _PROCESS_START, 3),
                "warm_up_s": round(warmed - imported, 3),
                "first_analysis_s": round(done - warmed, 3),
                "start_to_first_estimate_s": round(done - _PROCESS_START, 3),
                "peak_rss_mb": _peak_rss_mb(),
                "transcript": estimate.transcript,
            }
        )
    )


def _first_utterance(wav: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--first-utterance-child", str(wav)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_including_interpreter_s"] = round(wall, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--stock-repeats", type=int, default=5)
    parser.add_argument("--first-utterance-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_utterance_child:
        _first_utterance_child(args.first_utterance_child)
        return 0

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cadence-bench-voice-") as tmp:
        wav = _espeak_utterance(Path(tmp) / "utterance.wav")
        first = _first_utterance(wav)

        from mood.analyzer import MoodAnalyzer, MoodConfig
        from mood.audio import load_wav, normalise
        from mood.transcribe import load_transcriber
        from mood.whisper_convert import convert_ct2_to_openai

        samples, rate = load_wav(wav)
        speech = normalise(samples, rate)
        silence = np.zeros(8000, np.float32)
        stream_audio = np.concatenate([silence, speech, silence, silence, silence])
        pcm = (np.clip(stream_audio, -1, 1) * 32767).astype("<i2").tobytes()

        analyzer = MoodAnalyzer(MoodConfig())
        analyzer.warm_up()
        _stream_once(analyzer, pcm)  # one untimed pass

        # the utterance exactly as the stream cuts it, for the ASR comparisons
        from mood.stream import Utterance

        cut = next(
            o for o in analyzer.open_stream(16000, 1, "s16le").feed(pcm) if isinstance(o, Utterance)
        ).samples
        fitted = load_transcriber("faster-whisper")
        padded = load_transcriber("faster-whisper", fitted_window=False)
        ours_openai = load_transcriber("openai-whisper")

        import whisper

        checkpoint = convert_ct2_to_openai(None, Path(tmp) / "tiny.en.pt")
        stock = whisper.load_model(str(checkpoint), device="cpu")
        for warm in (lambda: padded.transcribe(cut), lambda: ours_openai.transcribe(cut)):
            warm()
        stock.transcribe(cut, language="en", fp16=False)

        # Round-robin, so that every variant sees the same (shared, noisy) machine.
        runs: list[dict[str, Any]] = []
        fitted_times: list[float] = []
        padded_times: list[float] = []
        ours_openai_times: list[float] = []
        stock_times: list[float] = []
        fitted_result = padded_result = ours_openai_result = None
        stock_result: dict[str, Any] = {}
        for k in range(args.repeats):
            runs.append(_stream_once(analyzer, pcm))
            t, fitted_result = _time_calls(lambda: fitted.transcribe(cut), 1)
            fitted_times += t
            t, padded_result = _time_calls(lambda: padded.transcribe(cut), 1)
            padded_times += t
            if k < args.stock_repeats:
                t, ours_openai_result = _time_calls(lambda: ours_openai.transcribe(cut), 1)
                ours_openai_times += t
                t, stock_result = _time_calls(lambda: stock.transcribe(cut, language="en", fp16=False), 1)
                stock_times += t
        stages = (
            "end_to_end",
            "vad",
            "asr",
            "prosody_parallel",
            "text",
            "fusion",
            "vad_whole_stream_off_path",
        )
        stream = {stage: _stats_ms([r[stage] for r in runs]) for stage in stages}
        utterance = runs[-1]["utterance_s"]
        assert fitted_result is not None and padded_result is not None and ours_openai_result is not None

    stock_ms = _stats_ms(stock_times)
    fitted_ms = _stats_ms(fitted_times)
    report = {
        "utterance": {
            "text": TEXT,
            "speech_s": round(runs[-1]["speech_s"], 3),
            "utterance_with_margins_s": round(utterance, 3),
            "transcript": runs[-1]["transcript"],
            "endpoint_silence_ms": analyzer.config.endpoint_silence_ms,
            "window_s": fitted_result.window_s,
        },
        "stream_after_endpoint": stream,
        "asr": {
            "faster_whisper_fitted": fitted_ms,
            "faster_whisper_padded_30s": _stats_ms(padded_times),
            "openai_whisper_ours_fitted": _stats_ms(ours_openai_times),
            "openai_whisper_stock_transcribe_30s": stock_ms,
            "same_text": {
                "padded": padded_result.text == fitted_result.text,
                "ours_openai": ours_openai_result.text == fitted_result.text,
                "stock_openai": stock_result["text"].strip() == fitted_result.text,
            },
        },
        "ratios": {
            "stock_openai_over_our_end_to_end": round(
                stock_ms["median_ms"] / stream["end_to_end"]["median_ms"], 2
            ),
            "stock_openai_over_our_asr": round(stock_ms["median_ms"] / fitted_ms["median_ms"], 2),
            "padded_over_fitted_asr": round(_stats_ms(padded_times)["median_ms"] / fitted_ms["median_ms"], 2),
        },
        "first_utterance_fresh_process": first,
        "peak_rss_mb_this_process_with_torch": _peak_rss_mb(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=1))
    return 0


_PROCESS_START = time.perf_counter()

if __name__ == "__main__":
    sys.exit(main())
