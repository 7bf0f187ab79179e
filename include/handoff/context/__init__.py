"""The sales context package: what a rep reads before the first conversation."""

from handoff.context.config import TalkingPoints, load_talking_points
from handoff.context.package import (
    CONTEXT_DDL,
    CONTEXT_TABLE,
    assemble_package,
    build_packages,
    run_context,
)
from handoff.context.render import render_text

__all__ = [
    "CONTEXT_DDL",
    "CONTEXT_TABLE",
    "TalkingPoints",
    "assemble_package",
    "build_packages",
    "load_talking_points",
    "render_text",
    "run_context",
]
