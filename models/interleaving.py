"""Statistics over many interleaved queues: who wins, by how much, how sure, and whether to promote.

Input is one :class:`~player.core.interleave.InterleavingOutcome` per interleaved queue (made by
:func:`player.core.interleave.credit` from a listener's logged reactions), tagged with the name of the
challenger that was team ``"b"`` (:class:`QueueCredit`). Queues in which the listener finished no
pick are not impressions: they are counted apart and left out of every figure.

Per challenger (:class:`InterleavingStats`):

- ``wins`` / ``losses`` / ``ties``: queues the challenger won, lost (the shipped ranker won) and tied;
  their sum is the number of *impressions*.
- the preference ``Δ = (wins − losses) / (wins + losses + ties)``, in [−1, 1], positive when the
  listener preferred the challenger. Chapelle, Joachims, Radlinski & Yue (ACM TOIS 2012, "Large-scale
  validation and analysis of interleaved search evaluation") write the same statistic as
  ``(wins_A + ties / 2) / N − 1/2``, which is ``−Δ / 2``.
- a confidence interval for Δ by the percentile bootstrap over queues, seeded. A queue's score is
  +1, −1 or 0, so resampling N queues with replacement is drawing (wins, losses, ties) from a
  multinomial with the observed shares, which is what is done (exactly the same distribution as
  resampling the queues one by one, in O(samples) instead of O(samples · N)).
- the two-sided exact binomial sign test of wins against losses (ties carry no direction and are
  dropped), p-value under "neither ranker is preferred" (P(win | not a tie) = 1/2).

:meth:`InterleavingStats.verdict` is ``cadence train``'s promotion rule: the challenger is promoted
only with at least ``min_impressions`` impressions and a sign-test p-value below ``alpha`` with
Δ > 0; otherwise the verdict says why not, with the numbers.

Imports of serving code: only :mod:`player.core.interleave`'s records.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from player.core.interleave import InterleavingOutcome

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "InterleavingStats",
    "QueueCredit",
    "Verdict",
    "VerdictKind",
    "interleaving_stats",
    "sign_test_p_value",
    "summarize",
]

BOOTSTRAP_SAMPLES = 2000
"""Bootstrap resamples for the confidence interval (the 2.5 % quantile then rests on 50 of them)."""

VerdictKind = Literal["challenger_wins", "challenger_loses", "no_difference", "not_enough_impressions"]
"""What the log says about a challenger; only ``challenger_wins`` promotes it."""


@dataclass(frozen=True, slots=True)
class QueueCredit:
    """One interleaved queue's outcome and the challenger that was team ``"b"`` in it."""

    challenger: str
    """Name of the challenger ranker, e.g. ``"retrained"`` or ``"heuristic"``."""
    outcome: InterleavingOutcome


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the challenger should replace the shipped ranker, and why, in words with the numbers."""

    kind: VerdictKind
    message: str
    """E.g. ``"challenger wins: Δ = +0.210 (95 % CI +0.120 … +0.300), …"``."""

    @property
    def promote(self) -> bool:
        """True only for ``challenger_wins``."""
        return self.kind == "challenger_wins"


@dataclass(frozen=True, slots=True)
class InterleavingStats:
    """Wins, losses and ties of one challenger against the shipped ranker over a listener's queues."""

    challenger: str
    wins: int
    """Impressions the challenger (team b) won."""
    losses: int
    """Impressions the shipped ranker (team a) won."""
    ties: int
    uninformative: int = 0
    """Interleaved queues in which no pick was finished; not impressions, not in any figure."""

    @property
    def impressions(self) -> int:
        """Queues that said something: ``wins + losses + ties``."""
        return self.wins + self.losses + self.ties

    @property
    def delta(self) -> float:
        """The preference ``(wins − losses) / impressions`` in [−1, 1]; 0.0 without impressions."""
        if self.impressions == 0:
            return 0.0
        return (self.wins - self.losses) / self.impressions

    @property
    def p_value(self) -> float:
        """Two-sided sign test of wins against losses (:func:`sign_test_p_value`)."""
        return sign_test_p_value(self.wins, self.losses)

    def confidence_interval(
        self, level: float = 0.95, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
    ) -> tuple[float, float]:
        """Percentile-bootstrap interval of Δ over queues at ``level`` (0–1), from ``seed``.

        Without impressions the interval is the whole range (−1, 1).

        Raises:
            ValueError: If ``level`` is not strictly between 0 and 1 or ``samples`` < 1.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be within (0, 1), got {level}")
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        n = self.impressions
        if n == 0:
            return (-1.0, 1.0)
        shares = np.array([self.wins, self.losses, self.ties], dtype=np.float64) / n
        draws = np.random.default_rng(seed).multinomial(n, shares, size=samples)
        deltas = (draws[:, 0] - draws[:, 1]) / n
        tail = (1.0 - level) / 2.0
        low, high = np.quantile(deltas, [tail, 1.0 - tail])
        return (float(low), float(high))

    def verdict(self, min_impressions: int, alpha: float = 0.05, *, seed: int = 0) -> Verdict:
        """The promotion rule: does the listener's log say the challenger wins, with enough impressions?

        ``challenger_wins`` needs ``impressions >= min_impressions``, a sign-test p-value below
        ``alpha`` and Δ > 0; ``challenger_loses`` is the same with Δ < 0; otherwise
        ``no_difference`` or ``not_enough_impressions``. The message carries Δ, its
        ``1 − alpha`` bootstrap interval (``seed``), the counts and the p-value.

        Raises:
            ValueError: If ``alpha`` is not strictly between 0 and 1 or ``min_impressions`` < 0.
        """
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {alpha}")
        if min_impressions < 0:
            raise ValueError(f"min_impressions must be >= 0, got {min_impressions}")
        low, high = self.confidence_interval(1.0 - alpha, seed=seed)
        p = self.p_value
        figures = (
            f"Δ = {self.delta:+.3f} ({100 * (1 - alpha):g} % CI {low:+.3f} … {high:+.3f}), "
            f"{self.wins} wins / {self.losses} losses / {self.ties} ties for {self.challenger!r} "
            f"over {self.impressions} impressions, sign test p = {p:.3g}"
        )
        if self.impressions < min_impressions:
            return Verdict(
                "not_enough_impressions",
                f"not enough impressions ({self.impressions} < {min_impressions}): {figures}",
            )
        if p < alpha and self.delta > 0:
            return Verdict("challenger_wins", f"challenger wins: {figures} < {alpha:g}")
        if p < alpha and self.delta < 0:
            return Verdict("challenger_loses", f"shipped ranker wins: {figures} < {alpha:g}")
        return Verdict("no_difference", f"no significant difference: {figures} ≥ {alpha:g}")

    def to_dict(self, alpha: float = 0.05, *, seed: int = 0) -> dict[str, object]:
        """A JSON-ready summary (for ``cadence eval --live --json``), the interval at ``1 − alpha``."""
        low, high = self.confidence_interval(1.0 - alpha, seed=seed)
        return {
            "challenger": self.challenger,
            "impressions": self.impressions,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "uninformative": self.uninformative,
            "delta": round(self.delta, 6),
            "ci_low": round(low, 6),
            "ci_high": round(high, 6),
            "ci_level": 1.0 - alpha,
            "p_value": self.p_value,
        }


def sign_test_p_value(wins: int, losses: int) -> float:
    """Two-sided exact binomial test of ``wins`` out of ``wins + losses`` against 1/2.

    ``min(1, 2 · P(X <= min(wins, losses)))`` for X ~ Binomial(wins + losses, 1/2), summed in log
    space so that it stays exact for large counts; 1.0 when there are no wins or losses.

    Raises:
        ValueError: If a count is negative.
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"counts must be >= 0, got {wins} wins, {losses} losses")
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    log_half_n = n * math.log(0.5)
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n for i in range(k + 1)
    ]
    top = max(log_terms)
    log_tail = top + math.log(math.fsum(math.exp(t - top) for t in log_terms))
    return min(1.0, 2.0 * math.exp(log_tail))


def interleaving_stats(challenger: str, outcomes: Iterable[InterleavingOutcome]) -> InterleavingStats:
    """Count one challenger's wins, losses and ties (and uninformative queues) over ``outcomes``."""
    wins = losses = ties = uninformative = 0
    for outcome in outcomes:
        if not outcome.informative:
            uninformative += 1
            continue
        winner = outcome.winner
        if winner == "b":
            wins += 1
        elif winner == "a":
            losses += 1
        else:
            ties += 1
    return InterleavingStats(challenger, wins=wins, losses=losses, ties=ties, uninformative=uninformative)


def summarize(queues: Iterable[QueueCredit]) -> dict[str, InterleavingStats]:
    """:func:`interleaving_stats` per challenger, in order of first appearance."""
    by_challenger: dict[str, list[InterleavingOutcome]] = {}
    for queue in queues:
        by_challenger.setdefault(queue.challenger, []).append(queue.outcome)
    return {name: interleaving_stats(name, outcomes) for name, outcomes in by_challenger.items()}
