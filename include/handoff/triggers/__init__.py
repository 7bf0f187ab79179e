"""Trigger conditions: when an account needs a human, who owns it, and how fast (SLA)."""

from handoff.triggers.config import Sla, Trigger, TriggerConfig, load_triggers
from handoff.triggers.episodes import (
    TRIGGER_EVALUATIONS_TABLE,
    TRIGGER_EVENTS_TABLE,
    TriggerSummary,
    detect,
    episode_id,
    fired_events,
    load_state,
    run_triggers,
)
from handoff.triggers.frame import FRAME_FEATURES, trigger_frame

__all__ = [
    "FRAME_FEATURES",
    "TRIGGER_EVALUATIONS_TABLE",
    "TRIGGER_EVENTS_TABLE",
    "Sla",
    "Trigger",
    "TriggerConfig",
    "TriggerSummary",
    "detect",
    "episode_id",
    "fired_events",
    "load_state",
    "load_triggers",
    "run_triggers",
    "trigger_frame",
]
