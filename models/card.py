"""The shipped ranker's model card (``models/ranker.md``), written from the evaluation report.

Everything in the card is read from the report :func:`models.evaluate.evaluate` returned and from the
training description :func:`models.train.build_shipped` kept; no figure is typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.evaluate import METRICS
from models.moodfollow import POLICIES
from models.simulate import HELDOUT_FAMILY
from player.core.ranking import FEATURES, PROPERTIES, SCHEMA_VERSION

__all__ = ["model_card"]

_ASSUMPTIONS = (
    "Listeners judge tracks by the demo catalog's designed truth (valence, energy, tempo, mode, "
    "brightness, density, drums); the ranker sees only what the extractor measured from the audio.",
    "Moods drift toward a daily energy curve with random-walk noise; a completed track pulls the mood "
    "10 % toward itself.",
    "Outside the `spoken` family the player hears the true mood with Gaussian error (sd 0.06–0.12) and "
    "a confidence drawn from 0.4–0.9; `spoken` listeners' sentences go through the real mood reader.",
    "After a request a listener expects a walk that closes half the remaining gap per track, for four "
    "tracks (the simulator's own numbers, not the player's).",
    "Every family dislikes hearing a track again among its last 40 plays.",
    "Skips and likes are drawn independently per play from the family's hazards: no fatigue over a "
    "session, no influence of the queue beyond the track played, no social or release-date effects.",
    "All simulated listeners are new (cold start): three sessions of twenty tracks each.",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    return str(value)


def _family_table(report: dict[str, Any]) -> list[str]:
    head = ["family", "policy", "plays", *METRICS]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for family, entry in report["families"].items():
        label = f"{family} (held out)" if entry.get("held_out") else family
        policies = [("**ranker**", entry["ranker"]), *entry.get("baselines", {}).items()]
        for name, m in policies:
            rows.append(
                "| "
                + " | ".join([label, name, _fmt(m.get("plays", "")), *(_fmt(m.get(k, "")) for k in METRICS)])
                + " |"
            )
            label = ""
    return rows


def _targets(report: dict[str, Any]) -> list[str]:
    out = []
    for key, t in report["targets"].items():
        met = {True: "**met**", False: "**missed**", None: "not measured"}[t["met"]]
        value = t["value"]
        if key == "heldout_vs_best_baseline":
            shown = f"reduction {value} (target ≥ {t['target']})"
            if "per_seed" in t:
                shown += "; per seed " + ", ".join(f"{s}: {r}" for s, r in t["per_seed"].items())
        elif key == "no_worse_than_skip_aware":
            shown = ", ".join(f"{f} {v['ranker']} vs {v['skip_aware']}" for f, v in value.items())
            above = {f: n for f, n in t.get("seeds_above_skip_aware", {}).items() if n}
            if above:
                shown += "; above skip-aware on " + ", ".join(f"{f} in {n} seed(s)" for f, n in above.items())
        else:
            shown = "; ".join(
                f"{what}: ranker {v['ranker']} vs nearest {v['nearest']}"
                + (
                    f" (check by check {v['mean_difference']:+.4f} ± {v['standard_error']:.4f}, closer on "
                    f"{v['closer']} of {v['checks']}, farther on {v['farther']})"
                    if "mean_difference" in v
                    else ""
                )
                for what, v in (
                    (label, value[name])
                    for name, label in (("scripts", "scripts"), ("held_out_scripts", "held-out scripts"))
                    if name in value
                )
            )
        out.append(f"- {t['what']}: {met} — {shown}.")
    return out


def _seed_spread(report: dict[str, Any]) -> list[str]:
    spread = report.get("seed_spread")
    if not spread:
        return []
    seeds = spread["seeds"]
    rows = [
        f"The same evaluation with {len(seeds)} draws of listeners (seeds {', '.join(map(str, seeds))}; the "
        "table above is the first): skip rate of the ranker / the skip-aware heuristic per seed, their "
        "means, and the ranker's reduction against the best baseline. The skip-rate targets are judged "
        "on the means.",
        "",
        "| family | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean | reduction vs best baseline (mean) |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for family, e in spread["families"].items():
        aware = e.get("skip_aware", [""] * len(seeds))
        cells = [f"{r} / {a}" for r, a in zip(e["ranker"], aware, strict=True)]
        m = e["mean"]
        mean = f"{m['ranker']} / {m.get('skip_aware', '')}"
        red = e.get("reduction_vs_best_baseline")
        reduction = (
            ", ".join(_fmt(r) for r in red) + f" ({_fmt(m['reduction_vs_best_baseline'])})" if red else ""
        )
        rows.append(f"| {family} | " + " | ".join(cells) + f" | {mean} | {reduction} |")
    return [*rows, ""]


def _mood_following(report: dict[str, Any], key: str = "mood_following") -> list[str]:
    mf = report.get(key)
    if not mf:
        return ["Not run."]
    keys = ("checks", "top5_distance", "top5_in_band", "requests", "direction_agreement", "direction_change")
    rows = ["| policy | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for name in POLICIES:
        if name in mf:
            rows.append(f"| {name} | " + " | ".join(_fmt(mf[name].get(k, "")) for k in keys) + " |")
    if key == "mood_following" and "distance_in_queue" in mf:
        rows += [
            "",
            "`distance_in_queue` is Cadence's own queue (pre-selection, variety, transitions, artist "
            "spacing) with closeness to the target as its only relevance: its distance less "
            "nearest-neighbour's is what the queue's rules cost, the ranker's less its own is what the "
            "ranker's preferences cost.",
        ]
    if key == "mood_following" and "ranker_alone" in mf:
        rows += [
            "",
            "`ranker_alone` is the ranker's queue without the rule that meets a new listener's statement "
            "(every script is a new listener; `player.core.ranking.recommender.meets_statement`): what the "
            "learned model does on its own.",
        ]
    return rows


def _cf_lift(report: dict[str, Any]) -> list[str]:
    lift = report.get("cf_lift")
    if not lift:
        return ["Not measured for this model."]
    rows = ["| method | recall@20 | NDCG@20 |", "|---|---|---|"]
    for method, m in lift["summary"].items():
        r, n = m["recall_at_20"], m["ndcg_at_20"]
        rows.append(f"| {method} | {r['mean']:.3f} ± {r['sd']:.3f} | {n['mean']:.3f} ± {n['sd']:.3f} |")
    gain = lift["lift"]["recall_at_20"]
    return [
        *rows,
        "",
        f"Lift of `cf_score` (ranker_cf − ranker) on recall@20: {gain['mean']:+.3f} ± {gain['sd']:.3f}; "
        f"better in {lift['households_improved']} of {len(lift['seeds'])} households.",
    ]


def _ablations(report: dict[str, Any], ablations: dict[str, dict[str, Any]]) -> list[str]:
    if not ablations:
        return ["Not run for this build."]
    families = list(report["families"])
    head = ["model", "what changed", *(f"{f} skip" for f in families)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    shipped = [_fmt(report["families"][f]["ranker"]["skip_rate"]) for f in families]
    rows.append("| shipped | — | " + " | ".join(shipped) + " |")
    for name, a in ablations.items():
        fam = a["report"]["families"]
        cells = [_fmt(fam[f]["ranker"]["skip_rate"]) if f in fam else "" for f in families]
        rows.append(f"| {name} | {a['what']} | " + " | ".join(cells) + " |")
    skip_aware = [
        _fmt(report["families"][f]["baselines"].get("skip_aware", {}).get("skip_rate", "")) for f in families
    ]
    rows.append("| skip-aware heuristic | (baseline) | " + " | ".join(skip_aware) + " |")
    return rows


def model_card(
    *,
    onnx_path: Path,
    info: dict[str, Any],
    report: dict[str, Any],
    ablations: dict[str, dict[str, Any]] | None = None,
    ablations_note: str = "",
) -> str:
    """The Markdown of ``ranker.md`` for the model at ``onnx_path`` (``ablations_note``: said under the
    ablations' heading, when they were measured apart from ``report``)."""
    from models.train import LGBM_PARAMS

    held = report["families"].get(HELDOUT_FAMILY, {})
    cfg = report.get("config", {})
    lines = [
        "# Cadence ranker — model card",
        "",
        "Written by `python -m models.train` from the evaluation it runs; every figure below is measured.",
        "",
        f"- File: `{onnx_path.name}`; model version `{info.get('model_version')}`; feature schema version "
        f"{SCHEMA_VERSION} (ONNX metadata `cadence.schema_version`, checked at load).",
        "- Model: LightGBM LambdaRank (`objective=lambdarank`, label gains 0/1/3/7 for early skip / late "
        f"skip / completed / liked), {info.get('rounds')} trees of up to {LGBM_PARAMS['num_leaves']} leaves, "
        "exported with onnxmltools (opset 15, `ai.onnx.ml` TreeEnsembleRegressor); served with onnxruntime only."
        + (
            f" The average of {info['ensemble']} such models (one tree ensemble, every leaf divided by "
            f"{info['ensemble']}: `models.train.average_boosters`), each trained on its own simulated draw "
            f"(seeds {', '.join(map(str, info.get('seeds', [])))}; the rows below count all of them)."
            if info.get("ensemble", 1) > 1
            else ""
        ),
        "- Output: one score per candidate row; higher is better; only the order within a decision matters.",
        "",
        "## Training data",
        "",
        f"Simulated only (no real interaction log is shipped): {info.get('rows')} candidate rows in "
        f"{info.get('queries')} decisions. {info.get('listeners_per_family')} listeners of each training "
        f"family ({', '.join(info.get('families', []))}) play {info.get('sessions')} sessions of "
        f"{info.get('tracks_per_session')} tracks in the real session core on the scanned demo catalog "
        f"{', '.join(info.get('catalogs', []))} (the extractor's features; the listeners judge by the designed "
        "truth), with an exploring behaviour policy (the skip-aware heuristic, its first pick replaced at "
        "random half the time). At each decision ~40 candidates (near the target, similar to recent likes, "
        "random) are labelled "
        + (
            "with the listener's expected reaction (its probabilities of an early skip, a late skip, a "
            "completion and a like, weighted 0/1/3/7) rather than one drawn reaction. Plus "
            if info.get("labels") == "expected"
            else "with reactions drawn from the listener. Plus "
        )
        + f"{info.get('household_queries')} queries ({info.get('household_rows')} rows) from simulated "
        f"households with planted taste groups (seeds {info.get('household_seeds')}, "
        f"{info.get('household_listeners')} listeners on {info.get('household_tracks')} synthetic tracks): "
        "a CF model trained on the first half of each member's sessions, the later sessions' plays "
        "replayed as log queries with `cf_score` folded in at each start (`models.train.household_queries`). "
        "The held-out family "
        f"(`{HELDOUT_FAMILY}`) never makes training data, and the evaluation catalog "
        f"({cfg.get('catalog')}) is another synthesis seed.",
        "",
        "## Evaluation",
        "",
        "`cadence eval --json` (models/evaluate.py): every policy plays the same simulated listeners in the "
        "real session core over the scanned evaluation catalog; the first track of each queue is played and "
        "judged by the listener's reaction to its designed truth. Configuration: "
        f"`{json.dumps({k: cfg.get(k) for k in ('catalog', 'listeners_per_family', 'seed', 'sessions', 'tracks_per_session', 'seconds')})}`.",
        "",
        *_family_table(report),
        "",
        f"Held-out family `{HELDOUT_FAMILY}`: the ranker skips "
        f"{_fmt(held.get('skip_rate_reduction_vs_best_baseline', ''))} less (relative) than the best baseline "
        f"({held.get('best_baseline')}) with this draw of listeners.",
        "",
        *_seed_spread(report),
        "### Targets (issue 10)",
        "",
        *_targets(report),
        "",
        "### Mood following",
        "",
        "Scripted sessions sent as text through the real mood reader and session core (models/moodfollow.py), "
        "scored against the designed truth of the top five tracks:",
        "",
        *_mood_following(report),
        "",
        "Held-out scripts (`models.moodfollow.HELD_OUT_SCRIPTS`: twelve more, written in the same way "
        "after every rule of the queue had been chosen on the scripts above, and measured once before any "
        "change they might prompt):",
        "",
        *_mood_following(report, "mood_following_held_out"),
        "",
        "### Collaborative filtering (issue 13)",
        "",
        "On simulated households with planted taste groups that training never saw (models/cf_lift.py: "
        f"households {', '.join(str(x) for x in (report.get('cf_lift') or {}).get('seeds', []))}; a quarter "
        "of each member's positive tracks held out), every track a member has not played is ranked; "
        "`ranker` has no CF model (as on a one-listener server), `ranker_cf` the household's:",
        "",
        *_cf_lift(report),
        "",
        "## Ablations",
        "",
        "Each variant is retrained on the same data with one thing removed and evaluated like the shipped "
        "model (skip rate per family; lower is better):",
        "",
        *([ablations_note, ""] if ablations_note else []),
        *_ablations(report, ablations or {}),
        "",
        "## What the simulator assumes",
        "",
        *(f"- {a}" for a in _ASSUMPTIONS),
        "- The training families include `aversions` (smooth dislikes on valence, density and drums); the "
        f"held-out `{HELDOUT_FAMILY}` family's rules are steps on other properties (mode, tempo, energy, "
        "brightness). The ranker reads property evidence only as aggregates over "
        f"{', '.join(p.name for p in PROPERTIES)} (`skip_lean_*`, `outside_liked_*`, `stump_skip_*`), so "
        "what it learned on one property must carry to another; the `without_aversions` ablation shows how "
        "much of the held-out result that family buys.",
        "",
        "## Features, in input order",
        "",
        "Each input is `(raw - offset) / scale`; definitions in docs/ranking.md.",
        "",
        "| # | name | offset | scale | definition |",
        "|---|---|---|---|---|",
        *(f"| {i} | `{f.name}` | {f.offset:g} | {f.scale:g} | {f.doc} |" for i, f in enumerate(FEATURES)),
        "",
        "## Limits",
        "",
        "Trained on simulated listeners only: it has learned what the simulator assumes, no more. Real "
        "listening is judged by interleaving (`cadence eval --live`), and `cadence train` retrains from a "
        "real interaction log and promotes a model only when interleaving on that listener's log says it wins.",
        "",
    ]
    return "\n".join(lines)
