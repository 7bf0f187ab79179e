"""HubSpot pacing from the rate-limit headers: a window spent by our own requests is paced
by our own count; a budget spent by another integration waits for the window to roll."""

from __future__ import annotations

from handoff.crm.hubspot import HubSpotDestination


def headers(remaining: int, limit: int = 10) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(limit),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Remaining": str(remaining),
    }


def test_our_own_requests_do_not_trigger_the_extra_wait() -> None:
    dest = HubSpotDestination("token", host="https://localhost:1")
    for i in range(10):
        dest._observe(headers(remaining=9 - i))
    assert dest._remaining is None  # all ten used by us: _Window paces it, no second wait


def test_a_budget_spent_by_someone_else_is_waited_for() -> None:
    dest = HubSpotDestination("token", host="https://localhost:1")
    dest._observe(headers(remaining=0))  # one request of ours, yet nothing left
    assert dest._remaining == 0
