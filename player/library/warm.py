"""`python -m player.library.warm`: compile the extractor's numba kernels once and cache them where every
later process finds them (``scripts/install.sh`` runs it as its last step).

librosa's kernels are numba functions declared ``cache=True``: compiled on first use (tens of seconds on
two cores) and written next to librosa's sources (``site-packages/librosa/**/__pycache__``, when the
installing user can write there), else to ``$NUMBA_CACHE_DIR`` or the user's cache directory. Every later
process that resolves the same place (same virtualenv, same user, same ``NUMBA_CACHE_DIR``) loads them
instead of compiling: the scan pool's forkserver (:mod:`player.library._warm`, whose workers fork warm),
a server's first-run scan and the tests' scans.

One kernel the extractor's beat tracker uses, ``librosa.beat.__beat_local_score``, is declared
``cache=False`` in librosa 0.11, so every process that imported ``librosa.beat`` compiled it again
(2–4 s, most of what a "cached" warm-up still cost). :func:`import_beat_tracker` imports
``librosa.beat`` with caching switched on for librosa's gufuncs, so that kernel is cached like its
siblings; the compiled code is the same, only where it comes from changes. numba writes each cached
gufunc as two files without making the pair atomic (numba/numba#10128: processes compiling the same
kernel at once can mix them), which is one more reason to compile once, here, in one process, before
any pool runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

__all__ = ["WarmReport", "fresh_process_warm_up_s", "import_beat_tracker", "main", "warm"]

_FRESH_PROCESS = (
    "import time; t = time.perf_counter(); "
    "from player.library.warm import import_beat_tracker; import_beat_tracker(); "
    "from player.library.features import warm_up; warm_up(); "
    "print(time.perf_counter() - t)"
)
"""What a scan's forkserver does before its first track, timed in a fresh interpreter."""


@dataclass(frozen=True, slots=True)
class WarmReport:
    """What :func:`warm` did."""

    warm_up_s: float
    """Seconds this process took to import the analysis and run it once (compiling what was not cached)."""
    cache_dir: str
    """Where numba keeps librosa's beat-tracking kernels (the other kernels sit alongside)."""
    fresh_process_s: float | None
    """Seconds a fresh process then took to import and warm the analysis from the cache (None: not checked)."""


@contextlib.contextmanager
def _librosa_gufuncs_cached() -> Iterator[None]:
    """For the duration: ``numba.guvectorize`` with ``cache=True`` for functions defined in librosa."""
    import numba

    original: Callable[..., Any] = numba.guvectorize

    def guvectorize(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        def decorate(func: Any) -> Any:
            cached = str(getattr(func, "__module__", "")).startswith("librosa.")
            return original(*args, **({**kwargs, "cache": True} if cached else kwargs))(func)

        return decorate

    numba.guvectorize = guvectorize
    try:
        yield
    finally:
        numba.guvectorize = original


def import_beat_tracker() -> ModuleType:
    """``librosa.beat``, imported (if this process has not yet) with its kernels cached on disk.

    Call it before anything imports ``librosa.beat`` (the scan's forkserver does, first thing); once the
    module is imported this only returns it.
    """
    if "librosa.beat" in sys.modules:
        return sys.modules["librosa.beat"]
    with _librosa_gufuncs_cached():
        return importlib.import_module("librosa.beat")


def _cache_dir(beat: ModuleType) -> str:
    """The directory numba caches ``librosa.beat``'s kernels in ("unknown" if this numba does not say:
    the path is read from the gufunc's dispatcher, which is not numba's public API)."""
    kernel = getattr(beat, "__beat_local_score", None)
    try:
        return str(kernel._dispatcher.cache.cache_path)  # type: ignore[union-attr]
    except AttributeError:
        return "unknown"


def fresh_process_warm_up_s(*, timeout_s: float = 600.0) -> float:
    """Seconds a fresh interpreter takes to import the analysis and warm it, from whatever numba has
    cached (what a scan's forkserver pays before its first track).

    Raises:
        subprocess.CalledProcessError: If the process fails.
    """
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS], check=True, capture_output=True, text=True, timeout=timeout_s
    )
    return float(out.stdout.strip().splitlines()[-1])


def warm(*, check: bool = True) -> WarmReport:
    """Import the analysis with every kernel cached, run it once (numba compiles and writes what is not
    cached yet), and with ``check`` time a fresh process warming from that cache."""
    from player.library.features import single_threaded_blas, warm_up

    started = time.perf_counter()
    single_threaded_blas()
    beat = import_beat_tracker()
    warm_up()
    seconds = time.perf_counter() - started
    return WarmReport(
        warm_up_s=round(seconds, 3),
        cache_dir=_cache_dir(beat),
        fresh_process_s=round(fresh_process_warm_up_s(), 3) if check else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Warm the cache and say where it is and what a fresh process now pays."""
    parser = argparse.ArgumentParser(prog="python -m player.library.warm", description=__doc__.split("\n")[0])
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip the fresh-process check")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = warm(check=args.check)
    if args.json:
        print(json.dumps(asdict(report)))
        return 0
    line = f"numba kernels compiled or loaded in {report.warm_up_s:.1f} s, cached in {report.cache_dir}"
    if report.fresh_process_s is not None:
        line += f"; a fresh scan process now warms up in {report.fresh_process_s:.1f} s"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
