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

``--hands-free`` measures issue 14's streaming recognition and smarter endpointing instead, side by
side with the fixed 600 ms endpointer, in one run:

- ``endpointing`` (in this process, deterministic): every clip of the espeak-ng mood corpus (180
  sentences, tests/support/mood_corpus.py), five hesitations (a phrase ending on "and", "um", "the",
  "kind of", 400 ms of silence, the rest) and three afterthoughts (a complete request, 400 ms, one more
  word), each as 22 050 Hz s16le PCM in 20 ms chunks with 0.5 s of silence before and 1.5 s after,
  through ``--endpointing smart`` (decoding whenever the stream asks, at once: the policy's most
  eager case) and through the fixed endpointer. Counted: clips cut into more than one utterance;
  the silence after the speech when each utterance closed (stream time); the final transcripts'
  WER against a one-shot decode of the same utterances; how many needed no decode at the endpoint.
- ``servers``: two ``cadence serve`` processes on copies of one library, ``--endpointing smart`` and
  ``--endpointing silence`` (the behaviour before issue 14), each spoken to in turn by one client
  streaming espeak-ng phrases at real time: hands-free (the speech, then silence until the queue
  comes: *last loud sample → queue*, the last sample above 2 % of the peak) and push-to-talk
  (``audio.stop`` right after the speech: *end of push-to-talk → queue*); with the partials and moods
  each utterance got.

    .venv/bin/python bench/voice.py --hands-free [--home DIR] [--rounds 6] [--speech-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
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


# -- hands-free: streaming recognition and smarter endpointing (issue 14) ------------------------------

AFTERTHOUGHTS = (
    ("play me something", "upbeat"),
    ("I feel great today", "really great"),
    ("something calm please", "and quiet"),
)
"""A complete request or statement, 400 ms of silence, a few more words: the case the smart
endpointer is built to get wrong (it cannot know more is coming)."""
SERVER_PHRASES = (
    "ugh, I'm exhausted",
    "let's go, I'm pumped for my run",
    "something calmer please",
    "I love this song",
    "I had a long day at work so please play something calm",
    "can you play something upbeat for my workout",
)
"""Spoken to the servers (the first four are bench/serve.py's)."""
PAUSE_S = 0.4


def _espeak(text: str, *, wpm: int = 160) -> tuple[np.ndarray, int]:
    """``text`` by espeak-ng (default voice), float32 mono at its own rate (22 050 Hz)."""
    import soundfile

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-s", str(wpm), "-w", str(wav), text], check=True, capture_output=True)
        samples, rate = soundfile.read(str(wav), dtype="float32")
    return samples, int(rate)


def _trimmed(samples: np.ndarray) -> np.ndarray:
    """The speech without espeak-ng's own leading and trailing silence (-50 dB of the peak)."""
    loud = np.flatnonzero(np.abs(samples) > np.abs(samples).max() * 10 ** (-50 / 20))
    return samples[loud[0] : loud[-1] + 1]


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _through(stream: Any, pcm: bytes, rate: int, *, decode: bool) -> tuple[list[Any], list[float], int]:
    """Feed s16le ``pcm`` in 20 ms chunks (decoding when the stream asks, if ``decode``); returns the
    utterances, the stream time each closed at, and the partials given."""
    from mood.stream import Utterance

    chunk = rate * CHUNK_MS // 1000 * 2
    utterances: list[Any] = []
    closed_at: list[float] = []
    partials = 0
    for pos in range(0, len(pcm), chunk):
        items = list(stream.feed(pcm[pos : pos + chunk]))
        if decode and stream.decode_due():
            partials += stream.advance() is not None
            items += stream.poll()
        at_s = min(pos + chunk, len(pcm)) / 2 / rate
        for item in items:
            if isinstance(item, Utterance):
                utterances.append(item)
                closed_at.append(at_s)
    for item in stream.finish():
        if isinstance(item, Utterance):
            utterances.append(item)
            closed_at.append(len(pcm) / 2 / rate)
    return utterances, closed_at, partials


def _endpointing(corpus_dir: Path) -> dict[str, Any]:
    """The in-process comparison of the two endpointers (see the module docstring)."""
    from mood.analyzer import MoodAnalyzer, MoodConfig
    from mood.audio import load_wav
    from mood.stream import UtteranceStream
    from tests.mood.test_transcribe import corpus_wer
    from tests.support.mood_corpus import HESITATIONS, build_mood_corpus

    items = build_mood_corpus(corpus_dir)
    analyzer = MoodAnalyzer(MoodConfig(endpointing="smart"))
    analyzer.warm_up()
    transcriber = analyzer.transcriber()
    sets: dict[str, list[tuple[str, np.ndarray, int]]] = {
        "corpus": [],
        "hesitations": [],
        "afterthoughts": [],
    }
    for item in items:
        samples, rate = load_wav(item.path)
        sets["corpus"].append((item.text, np.asarray(samples, np.float32).reshape(-1), rate))
    for name, pairs in (("hesitations", HESITATIONS), ("afterthoughts", AFTERTHOUGHTS)):
        for head, rest in pairs:
            (a, rate), (b, _) = _espeak(head, wpm=150), _espeak(rest, wpm=150)
            pause = np.zeros(int(PAUSE_S * rate), np.float32)
            sets[name].append((f"{head} {rest}", np.concatenate([_trimmed(a), pause, _trimmed(b)]), rate))
    report: dict[str, Any] = {}
    started = time.perf_counter()
    for name, clips in sets.items():
        cuts = {"smart": 0, "fixed": 0}
        closing = {"smart": [], "fixed": []}
        references, finals, one_shots, reused, decodes, partials = [], [], [], 0, [], 0
        for text, speech, rate in clips:
            audio = np.concatenate(
                [np.zeros(rate // 2, np.float32), speech, np.zeros(rate * 3 // 2, np.float32)]
            )
            pcm = _pcm(audio)
            smart = analyzer.open_stream(rate, 1, "s16le")
            fixed = UtteranceStream(rate, 1, "s16le", vad=analyzer.vad(), endpoint_silence_ms=600)
            for kind, stream in (("smart", smart), ("fixed", fixed)):
                utterances, closed_at, given = _through(stream, pcm, rate, decode=kind == "smart")
                cuts[kind] += len(utterances) != 1
                closing[kind] += [(at - u.end_s) * 1000 for u, at in zip(utterances, closed_at, strict=True)]
                if kind != "smart":
                    continue
                partials += given
                texts, shots = [], []
                for utterance in utterances:
                    texts.append(utterance.transcription.finalize().text)
                    reused += utterance.transcription.final_decoded_s == 0.0
                    decodes.append(utterance.transcription.decodes)
                    shots.append(transcriber.transcribe(utterance.samples).text)
                references.append(text)
                finals.append(" ".join(texts))
                one_shots.append(" ".join(shots))
        utterance_count = len(decodes)
        report[name] = {
            "clips": len(clips),
            "cut_mid_sentence": cuts,
            "closing_silence_ms": {kind: _quantiles(v) for kind, v in closing.items()},
            "wer_final": round(corpus_wer(references, finals), 4),
            "wer_one_shot_same_utterances": round(corpus_wer(references, one_shots), 4),
            "final_needed_no_decode": f"{reused}/{utterance_count}",
            "decodes_per_utterance": round(float(np.mean(decodes)), 2) if decodes else None,
            "partials_per_clip": round(partials / max(1, len(clips)), 2),
        }
    report["seconds"] = round(time.perf_counter() - started, 1)
    analyzer.close()
    return report


def _quantiles(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"median": None, "p90": None, "max": None}
    return {
        "median": round(float(np.median(values_ms)), 1),
        "p90": round(float(np.percentile(values_ms, 90)), 1),
        "max": round(float(np.max(values_ms)), 1),
    }


async def _speak(url: str, samples: np.ndarray, rate: int, *, push_to_talk: bool) -> dict[str, Any]:
    """One utterance at real time (20 ms chunks): seconds from its end to its ``queue``, with what
    arrived before it. The end is the last sample above 2 % of the peak (hands-free: the silence then
    goes on until the queue has come, as a microphone's would), or the ``audio.stop`` sent right
    after the speech (push-to-talk)."""
    from player.client import CadenceClient

    client = await CadenceClient.connect(url, client="bench-voice")
    await client.start_session(local_time="2026-05-04T07:30:00+02:00")
    lead = np.zeros(int(0.2 * rate), np.float32)
    loud = np.flatnonzero(np.abs(samples) > 0.02 * float(np.max(np.abs(samples))))
    seen: list[dict[str, Any]] = []
    arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        while True:
            message = await client.receive(120)
            seen.append(message)
            if message["type"] in ("queue", "error") and not arrived.done():
                arrived.set_result(time.monotonic())
            if message["type"] == "ack" and message.get("of") == "session.end":
                return

    reader = asyncio.create_task(read())
    await client.send({"type": "audio.start", "sample_rate": rate, "channels": 1, "format": "s16le"})
    step = rate * CHUNK_MS // 1000
    audio = np.concatenate([lead, samples])
    began = time.monotonic()
    ended_at = began + (lead.size + (loud[-1] + 1 if loud.size else samples.size)) / rate
    sent = 0
    silence = np.zeros(step, np.float32)
    while sent < audio.size or (not push_to_talk and not arrived.done() and sent < audio.size + 10 * rate):
        block = audio[sent : sent + step] if sent < audio.size else silence
        await client.ws.send(_pcm(block))
        sent += step
        await asyncio.sleep(max(0.0, began + sent / rate - time.monotonic()))
    if push_to_talk:
        ended_at = time.monotonic()
    await client.send({"type": "audio.stop"})
    at = await asyncio.wait_for(arrived, 120)
    # the stream's last vad events and its ack, then end
    await asyncio.sleep(0.3)
    await client.send({"type": "session.end"})
    await asyncio.wait_for(reader, 60)
    await client.close()
    kinds = [m["type"] for m in seen]
    first = next((m for m in seen if m["type"] in ("queue", "error")), {})
    return {
        "ms": round((at - ended_at) * 1000, 1),
        "answer": first.get("type"),
        "error": first.get("code"),
        "utterances": sum(m["type"] == "vad" and m["state"] == "silence" for m in seen),
        "moods": kinds.count("mood"),
        "partials_before_queue": kinds[: kinds.index(first["type"])].count("transcript.partial")
        if first
        else 0,
        "transcript": next((m["transcript"] for m in seen if m["type"] == "mood"), None),
    }


async def _voice_ready(url: str) -> None:
    """Wait until the server's voice models answer (a server may open before they are warm)."""
    samples, rate = _espeak("hello there")
    for _ in range(120):
        result = await _speak(url, _trimmed(samples), rate, push_to_talk=True)
        if result["answer"] == "queue":
            return
        await asyncio.sleep(1.0)
    raise RuntimeError(f"the server at {url} never answered speech")


async def _servers_run(urls: dict[str, str], rounds: int) -> dict[str, Any]:
    clips = [(_trimmed(s), r) for s, r in (_espeak(t) for t in SERVER_PHRASES)]
    for url in urls.values():
        await _voice_ready(url)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"hands_free": [], "push_to_talk": []} for name in urls
    }
    for r in range(rounds):
        for i, (samples, rate) in enumerate(clips):
            order = list(urls) if (r + i) % 2 == 0 else list(reversed(urls))
            for name in order:  # alternating, so both see the same (shared, noisy) machine
                for mode in ("hands_free", "push_to_talk"):
                    result = await _speak(urls[name], samples, rate, push_to_talk=mode == "push_to_talk")
                    result["phrase"] = SERVER_PHRASES[i]
                    results[name][mode].append(result)
    report: dict[str, Any] = {}
    for name, modes in results.items():
        report[name] = {}
        for mode, runs in modes.items():
            answered = [x["ms"] for x in runs if x["answer"] == "queue"]
            report[name][mode] = {
                "n": len(runs),
                "to_queue_ms": _quantiles(answered),
                "not_answered_with_a_queue": sum(x["answer"] != "queue" for x in runs),
                "utterances_cut": sum(x["utterances"] > 1 for x in runs),
                "partials_before_queue_mean": round(
                    float(np.mean([x["partials_before_queue"] for x in runs])), 2
                ),
                "cut_phrases": sorted({x["phrase"] for x in runs if x["utterances"] > 1}),
            }
    return report


def _hands_free(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio as _asyncio
    import shutil

    from player.server.launch import launch_server_process

    load_before = os.getloadavg()
    report: dict[str, Any] = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="cadence-bench-hands-free-") as tmp:
        report["endpointing"] = _endpointing(Path(tmp) / "corpus")
        home = Path(args.home) if args.home else Path(tmp) / "smart"
        common = ["--speech-workers", str(args.speech_workers)]
        with launch_server_process(home, [*common, "--endpointing", "smart"]) as smart:
            other = Path(tmp) / "silence"
            other.mkdir()
            shutil.copy2(home / "library.db", other / "library.db")  # the same library, its own log
            with launch_server_process(other, [*common, "--endpointing", "silence"]) as silence:
                urls = {"smart": smart.url, "silence_600ms": silence.url}
                report["servers"] = _asyncio.run(_servers_run(urls, args.rounds))
    smart_median = report["servers"]["smart"]["hands_free"]["to_queue_ms"]["median"]
    report["target_last_loud_to_queue_median_ms"] = {
        "target": 400,
        "measured": smart_median,
        "met": smart_median is not None and smart_median <= 400,
    }
    report["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--stock-repeats", type=int, default=5)
    parser.add_argument("--first-utterance-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--hands-free", action="store_true", help="streaming recognition and endpointing")
    parser.add_argument("--home", default=None, help="--hands-free: a server home with its library")
    parser.add_argument("--rounds", type=int, default=6, help="--hands-free: rounds of the server phrases")
    parser.add_argument("--speech-workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.first_utterance_child:
        _first_utterance_child(args.first_utterance_child)
        return 0
    if args.hands_free:
        print(json.dumps(_hands_free(args), indent=1))
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
