"""Learning engine: learns from execution records which tools to recommend for an intent."""

from learning.associations import AssociationConfig
from learning.context import context_key
from learning.learner import Batcher, BatchPolicy, record_context_key, update
from learning.metrics import latency_percentile, summary
from learning.posterior import PosteriorConfig
from learning.recommender import Recommendation, Recommender, ScoringConfig
from learning.state import CONTEXT_SCORES, TERM_TOOLS, TOOL_METRICS, LearningState
from learning.text import DescriptionIndex, TextConfig

__all__ = [
    "CONTEXT_SCORES",
    "TERM_TOOLS",
    "TOOL_METRICS",
    "AssociationConfig",
    "BatchPolicy",
    "Batcher",
    "DescriptionIndex",
    "LearningState",
    "PosteriorConfig",
    "Recommendation",
    "Recommender",
    "ScoringConfig",
    "TextConfig",
    "context_key",
    "latency_percentile",
    "record_context_key",
    "summary",
    "update",
]
