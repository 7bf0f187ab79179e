"""Configuration: YAML files validated with pydantic, errors that name file, key and problem."""

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_model, load_yaml_model
from handoff.config.model import Condition, ScoringModel, Signal
from handoff.config.source import SourceConfig, load_source

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "Condition",
    "ScoringModel",
    "Signal",
    "SourceConfig",
    "load_model",
    "load_source",
    "load_yaml_model",
]
