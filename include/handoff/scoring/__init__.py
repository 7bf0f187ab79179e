"""Scoring: PQL per user, PQA and tier per account, each with breakdown and reasons."""

from handoff.scoring.engine import ScoreResult, score_frames
from handoff.scoring.history import SCORE_HISTORY_TABLE, score_snapshot

__all__ = ["SCORE_HISTORY_TABLE", "ScoreResult", "score_frames", "score_snapshot"]
