"""Word error rate and latency of each ``--asr-model`` on the espeak-ng mood corpus; prints JSON.

The corpus is the one the mood tests use (tests/support/mood_corpus.py: every voice × sentence ×
arousal level, English). Each model (faster-whisper, int8, fitted windows, greedy, as served) is
loaded, warmed up on the warm-up utterance, then transcribes every corpus item once, one after the
other, in this process; latency is the wall time of ``transcribe`` per utterance (median and p90),
after VAD-free 16 kHz normalisation. WER uses the tests' normalisation (tests/mood/test_transcribe.py).
A model whose packages are missing or broken is reported with its error instead of figures.

Also: the share of corpus items each multilingual model detected as English, and the one-off join of
the split weights (``join_s``, timed into a fresh temporary folder).

The machine is shared and noisy: the JSON records the load average before and after; compare only
figures from the same run.

    .venv/bin/python bench/asr_models.py [--models tiny.en base small]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mood.asr_models import ASR_MODELS, asr_model_dir
from mood.audio import load_wav, normalise
from mood.errors import EngineError
from mood.transcribe import FasterWhisperTranscriber, warm_up_speech
from tests.mood.test_transcribe import corpus_wer
from tests.support.mood_corpus import build_mood_corpus


def _bench_model(name: str, audio: list[np.ndarray], texts: list[str], cache: Path) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        model_dir = asr_model_dir(name, cache)
    except EngineError as exc:
        return {"error": exc.message}
    join_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        transcriber = FasterWhisperTranscriber(model_dir)
    except EngineError as exc:
        return {"error": exc.message}
    load_s = time.perf_counter() - started
    transcriber.warm_up()
    latencies, hypotheses, languages = [], [], []
    for samples in audio:
        started = time.perf_counter()
        transcript = transcriber.transcribe(samples)
        latencies.append((time.perf_counter() - started) * 1000.0)
        hypotheses.append(transcript.text)
        languages.append(transcript.language)
    ordered = sorted(latencies)
    return {
        "wer": round(corpus_wer(texts, hypotheses), 4),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p90": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "detected_english": round(languages.count("en") / len(languages), 4),
        "model_bin_mb": round((model_dir / "model.bin").stat().st_size / 1e6, 1),
        "join_s": round(join_s, 3) if name != "tiny.en" else None,
        "load_s": round(load_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(ASR_MODELS), choices=ASR_MODELS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cadence-asr-bench-") as tmp:
        items = build_mood_corpus(Path(tmp) / "corpus")
        audio = [normalise(*load_wav(item.path)) for item in items]
        warm_up_speech()
        texts = [item.text for item in items]
        results = {name: _bench_model(name, audio, texts, Path(tmp) / "asr") for name in args.models}
    print(
        json.dumps(
            {
                "corpus_items": len(audio),
                "corpus_audio_s_p50": round(statistics.median(a.shape[0] / 16000 for a in audio), 2),
                "cpus": os.cpu_count(),
                "load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                "models": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
