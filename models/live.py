"""Interleaving judged on the real log: ``cadence eval --live`` and ``cadence train``'s promotion rule.

The server team-drafts a share of its queues from the shipped ranker (team ``"a"``) and a challenger
(team ``"b"``: a retrained model installed by ``cadence train`` at ``HOME/models/challenger.onnx``,
or the skip-aware heuristic) and logs each pick's team (:mod:`player.core.session`,
:mod:`player.server.log`). Here the log is read back: every interleaved queue is credited with the
playback that followed it (:func:`player.core.interleave.queue_outcomes`) and the queues are summed
per challenger (:func:`models.interleaving.summarize`).

- :func:`live_report` / :func:`cmd_eval_live` — per challenger: interleaved queues, impressions,
  wins/losses/ties, Δ with its bootstrap interval, the sign test's p-value and the promotion verdict,
  for one listener or for all (pooled, and each listener apart).
- :func:`interleave_or_promote` — ``cadence train``'s step after training a candidate: a challenger
  not yet interleaved is replaced by the candidate (it will be interleaved before it can be
  promoted); an interleaved one is promoted to ``ranker.onnx`` only on a ``challenger_wins`` verdict
  with enough impressions over the home's whole log *and* the offline quality gate; otherwise the
  verdict's numbers say why not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from models.interleaving import InterleavingStats, QueueCredit, interleaving_stats, summarize
from player.app import challenger_path
from player.core.interleave import queue_outcomes, retrained_name
from player.server.logstore import display_location
from player.settings import Settings

if TYPE_CHECKING:
    from models.commands import GateResult

__all__ = [
    "Promotion",
    "PromotionAction",
    "cmd_eval_live",
    "format_live",
    "interleave_or_promote",
    "live_credits",
    "live_report",
]

PromotionAction = Literal["installed", "replaced_unjudged", "promoted", "gate_refused", "retired", "kept"]
"""What :func:`interleave_or_promote` did:

- ``installed``: there was no challenger; the candidate is the challenger now.
- ``replaced_unjudged``: the challenger was never interleaved; the candidate replaced it.
- ``promoted``: the challenger won on the log and passed the offline gate: it is ``ranker.onnx``
  now, and the candidate is the next challenger.
- ``gate_refused``: the challenger won on the log but the offline gate refused it; the candidate
  replaced it.
- ``retired``: the shipped ranker won significantly; the candidate replaced the challenger.
- ``kept``: not enough impressions or no significant difference yet; the challenger stays and the
  candidate is not installed.
"""


def live_credits(log_db: Path | str, listener_id: str | None = None) -> list[tuple[str, QueueCredit]]:
    """Every interleaved queue of ``listener_id`` (all listeners if None) in the log at ``log_db``
    (log.db, or a shared PostgreSQL log's URL), credited, with its listener: ``(listener_id,
    QueueCredit)`` in time order. A log file that does not exist has none."""
    from player.server.logstore import log_present, open_log_at

    if not log_present(log_db):
        return []
    with open_log_at(log_db) as log:
        queues = log.queues(listener_id)
        events = log.events(listener_id) if queues else []
    return [
        (queue.listener_id, QueueCredit(queue.challenger, outcome))
        for queue, outcome in queue_outcomes(queues, events)
        if queue.challenger is not None
    ]


def _entry(stats: InterleavingStats, *, min_impressions: int, alpha: float) -> dict[str, Any]:
    verdict = stats.verdict(min_impressions, alpha)
    return {
        **stats.to_dict(alpha),
        "queues": stats.impressions + stats.uninformative,
        "verdict": verdict.kind,
        "message": verdict.message,
    }


def live_report(
    settings: Settings, listener_id: str | None = None, *, min_impressions: int | None = None
) -> dict[str, Any]:
    """The interleaving outcome on ``settings.log_db``, JSON-ready.

    ``{"log", "listener", "min_impressions", "alpha", "challengers": {name: entry}, "listeners":
    {listener: {name: entry}}}``. An entry is :meth:`InterleavingStats.to_dict` plus ``queues``
    (interleaved queues: impressions and uninformative ones), ``verdict`` (its kind) and
    ``message``. ``challengers`` pools the queues of ``listener_id`` (or of every listener);
    ``listeners`` gives each listener's apart. Verdicts use ``min_impressions`` (default
    ``settings.promote_min_impressions``) and ``settings.promote_alpha``.
    """
    minimum = settings.promote_min_impressions if min_impressions is None else min_impressions
    alpha = settings.promote_alpha
    credited = live_credits(settings.log_location, listener_id)
    by_listener: dict[str, list[QueueCredit]] = {}
    for owner, queue in credited:
        by_listener.setdefault(owner, []).append(queue)

    def entries(queues: list[QueueCredit]) -> dict[str, dict[str, Any]]:
        return {
            name: _entry(stats, min_impressions=minimum, alpha=alpha)
            for name, stats in summarize(queues).items()
        }

    return {
        "log": display_location(settings.log_location),
        "listener": listener_id,
        "min_impressions": minimum,
        "alpha": alpha,
        "challengers": entries([queue for _, queue in credited]),
        "listeners": {owner: entries(queues) for owner, queues in sorted(by_listener.items())},
    }


def _lines(entry: dict[str, Any], indent: str) -> list[str]:
    return [
        f"{indent}{entry['challenger']}: {entry['queues']} interleaved queues, {entry['impressions']} "
        f"impressions ({entry['uninformative']} uninformative): {entry['wins']} wins / "
        f"{entry['losses']} losses / {entry['ties']} ties",
        f"{indent}  Δ = {entry['delta']:+.3f} ({100 * entry['ci_level']:g} % CI {entry['ci_low']:+.3f} … "
        f"{entry['ci_high']:+.3f}), sign test p = {entry['p_value']:.3g}",
        f"{indent}  verdict: {entry['message']}",
    ]


def format_live(report: dict[str, Any]) -> str:
    """:func:`live_report` as readable lines: pooled per challenger, then per listener."""
    who = f"listener {report['listener']}" if report["listener"] else f"{len(report['listeners'])} listeners"
    lines = [
        f"interleaving on {report['log']} ({who}); the challenger is team b, the shipped ranker team a; "
        f"promotion needs ≥ {report['min_impressions']} impressions and p < {report['alpha']:g}"
    ]
    if not report["challengers"]:
        lines.append(
            "  no interleaved queues in the log yet: `cadence serve` interleaves a retrained challenger "
            "(from `cadence train`) on half of the queues, the heuristic with --interleave-share SHARE"
        )
        return "\n".join(lines)
    for entry in report["challengers"].values():
        lines += _lines(entry, "  ")
    if report["listener"] is None and len(report["listeners"]) > 1:
        for owner, entries in report["listeners"].items():
            lines.append(f"  listener {owner}:")
            for entry in entries.values():
                lines += _lines(entry, "    ")
    return "\n".join(lines)


def cmd_eval_live(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence eval --live [--listener ID] [--json]`: the interleaving outcome on the home's log."""
    report = live_report(settings, getattr(args, "listener", None))
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_live(report))
    return 0


# ---------------------------------------------------------------- cadence train


@dataclass(frozen=True)
class Promotion:
    """What ``cadence train`` did with its candidate and the challenger, and why, with the numbers."""

    action: PromotionAction
    message: str
    challenger: str | None
    """The name of the challenger that was judged (None if there was none)."""
    stats: dict[str, Any] | None
    """Its interleaving figures over the whole log (an entry of :func:`live_report`), if judged."""
    gate: GateResult | None = None
    """The offline gate's result, when a winning challenger was put to it."""
    installed: str | None = None
    """The name of the model installed as the challenger now (None: the challenger did not change)."""

    @property
    def promoted(self) -> bool:
        """True if ``ranker.onnx`` was replaced by the challenger."""
        return self.action == "promoted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``cadence train``'s report)."""
        return {
            "action": self.action,
            "promoted": self.promoted,
            "message": self.message,
            "challenger": self.challenger,
            "stats": self.stats,
            "gate": None
            if self.gate is None
            else {"replaced": self.gate.replaced, "reason": self.gate.reason},
            "installed_challenger": self.installed,
        }


def interleave_or_promote(
    settings: Settings,
    candidate: bytes,
    *,
    gate: Callable[[bytes], GateResult],
    min_impressions: int | None = None,
) -> Promotion:
    """After training ``candidate`` (ONNX bytes): install it as the challenger, or judge the challenger.

    - No challenger at ``HOME/models/challenger.onnx``, or one that was never interleaved: the
      candidate becomes the challenger (atomically); it is interleaved before it can be promoted.
    - An interleaved challenger: its verdict over the home's whole log (every listener's queues,
      ``min_impressions`` — default ``settings.promote_min_impressions`` — and
      ``settings.promote_alpha``). Only ``challenger_wins`` puts it to ``gate`` (the offline quality
      gate, which installs it as ``ranker.onnx`` atomically if it evaluates at least as well as the
      current ranker); promoted or refused by the gate, and when the shipped ranker won, the
      candidate becomes the next challenger. Otherwise the challenger stays and the candidate is
      not installed; the message carries the verdict's numbers.
    """
    from models.train import save_model_atomic

    path = challenger_path(settings)
    minimum = settings.promote_min_impressions if min_impressions is None else min_impressions
    candidate_name = retrained_name(candidate)

    def install(action: PromotionAction, message: str, **judged: Any) -> Promotion:
        if candidate_name == judged.get("challenger") and action != "replaced_unjudged":
            # Trained again on the same log into the very file that was just judged: it is done.
            path.unlink(missing_ok=True)
            return Promotion(action, f"{message}the new model is that same file: no challenger now", **judged)
        save_model_atomic(candidate, path)
        how = (
            f"{candidate_name} is the challenger now ({path}): `cadence serve` interleaves it with the "
            "shipped ranker, and `cadence train` promotes it only once the log says it wins with at "
            f"least {minimum} impressions"
        )
        return Promotion(action, f"{message}{how}", installed=candidate_name, **judged)

    if not path.is_file():
        return install("installed", "no challenger yet: ", challenger=None, stats=None)
    current = path.read_bytes()
    name = retrained_name(current)
    queues = [queue for _, queue in live_credits(settings.log_location) if queue.challenger == name]
    stats = interleaving_stats(name, [queue.outcome for queue in queues])
    if not queues:
        return install(
            "replaced_unjudged", f"the challenger {name} was never interleaved: ", challenger=name, stats=None
        )
    entry = _entry(stats, min_impressions=minimum, alpha=settings.promote_alpha)
    verdict = stats.verdict(minimum, settings.promote_alpha)
    judged: dict[str, Any] = {"challenger": name, "stats": entry}
    if verdict.promote:
        result = gate(current)
        if result.replaced:
            path.unlink(missing_ok=True)
            return install(
                "promoted",
                f"promoted {name} to the ranker on the log ({verdict.message}) and the offline gate "
                f"({result.reason}); ",
                gate=result,
                **judged,
            )
        return install(
            "gate_refused",
            f"not promoted: the log says {verdict.message}, but the offline gate refused it "
            f"({result.reason}); ",
            gate=result,
            **judged,
        )
    if verdict.kind == "challenger_loses":
        return install("retired", f"retired {name}: {verdict.message}; ", **judged)
    return Promotion(
        "kept",
        f"not promoted: {verdict.message}; {name} stays the challenger and the new model was not installed",
        **judged,
    )
