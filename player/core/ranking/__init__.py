"""Pick the next tracks, in modules by job.

- :mod:`~player.core.ranking.schema` — the feature schema shared with training (:data:`FEATURES`,
  :data:`SCHEMA_VERSION`, the pre-selection terms).
- :mod:`~player.core.ranking.context` — per-library arrays (:class:`Catalog`), a decision's context
  from the listener state (:func:`build_context`), the ranker's inputs (:func:`assemble_features`).
- :mod:`~player.core.ranking.scorer` — the ONNX ranker, loaded and checked (:class:`OnnxRanker`).
- :mod:`~player.core.ranking.recommender` — pre-selection, scoring and re-ranking
  (:class:`Recommender`).
- :mod:`~player.core.ranking.reasons` — a true, varied reason for each pick (:func:`explain_queue`).

The public names of these modules are re-exported here: ``from player.core.ranking import X`` works for each.
"""

from __future__ import annotations

from player.core.ranking.context import (
    Catalog,
    CfSource,
    DecisionContext,
    MatrixLike,
    RowScores,
    assemble_features,
    build_context,
    fit_proxy,
    key_step,
    preselect_design,
    tempo_step,
    upper_half_weight,
)
from player.core.ranking.reasons import explain_queue
from player.core.ranking.recommender import (
    MMR_LAMBDA,
    NEAREST_K,
    PRESELECT_K,
    Pick,
    Recommendation,
    Recommender,
)
from player.core.ranking.schema import (
    DESCRIPTOR_COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    PROPERTIES,
    SCHEMA_VERSION,
    FeatureSpec,
)
from player.core.ranking.scorer import OnnxRanker, Scorer, default_ranker_path, shipped_ranker_path

__all__ = [
    "DESCRIPTOR_COLUMNS",
    "FEATURES",
    "FEATURE_NAMES",
    "MMR_LAMBDA",
    "NEAREST_K",
    "PRESELECT_CONTEXT",
    "PRESELECT_K",
    "PRESELECT_TERMS",
    "PROPERTIES",
    "SCHEMA_VERSION",
    "Catalog",
    "CfSource",
    "DecisionContext",
    "FeatureSpec",
    "MatrixLike",
    "OnnxRanker",
    "Pick",
    "Recommendation",
    "Recommender",
    "RowScores",
    "Scorer",
    "assemble_features",
    "build_context",
    "default_ranker_path",
    "explain_queue",
    "fit_proxy",
    "key_step",
    "preselect_design",
    "shipped_ranker_path",
    "tempo_step",
    "upper_half_weight",
]
