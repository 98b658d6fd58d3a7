#!/usr/bin/env python3
"""Write the espeak-ng mood-script corpus to a folder (WAVs + index.json).

    .venv/bin/python scripts/make_mood_corpus.py OUT_DIR [--voice en-us ...] [--level 0 ...]

The generator lives in tests/support/mood_corpus.py (the tests build the same corpus in their run).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "support" / "mood_corpus.py"


def _load_corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cadence_mood_corpus", _CORPUS)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {_CORPUS}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    corpus = _load_corpus_module()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--voice", action="append", default=None, help=f"default: {', '.join(corpus.VOICES)}")
    parser.add_argument(
        "--level", action="append", type=int, default=None, help="arousal level 0-3 (repeatable)"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    items = corpus.build_mood_corpus(
        args.out_dir, voices=args.voice or corpus.VOICES, levels=args.level, workers=args.workers
    )
    print(f"wrote {len(items)} utterances and index.json to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
