"""Routing: who gets a routed account, who stays self-serve, and the holdout arm."""

from handoff.routing.acv import expected_acv, size_bands
from handoff.routing.config import Roster, RoutingConfig, load_roster, load_routing
from handoff.routing.holdout import holdout_bucket, in_holdout
from handoff.routing.route import DECISIONS, OUTPUT_COLUMNS, route
from handoff.routing.run import ROUTING_DDL, ROUTING_TABLE, RoutingSummary, run_routing

__all__ = [
    "DECISIONS",
    "OUTPUT_COLUMNS",
    "ROUTING_DDL",
    "ROUTING_TABLE",
    "Roster",
    "RoutingConfig",
    "RoutingSummary",
    "expected_acv",
    "holdout_bucket",
    "in_holdout",
    "load_roster",
    "load_routing",
    "route",
    "run_routing",
    "size_bands",
]
