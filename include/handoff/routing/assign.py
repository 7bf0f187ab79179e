"""Assignment to named reps: round-robin within weekly capacity, deterministic.

Reps of a pool (same role, covering the region and segment) are taken in a stable order
(name, email). The round-robin pointer is the last rep of that pool who received a new
assignment, read from earlier routing decisions and then from this run, so a rerun over the
same history gives the same answer. A rep whose new assignments in the capacity window reach
`weekly_capacity` is skipped; when every rep of the pool is full the account is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from handoff.routing.config import Rep, Roster


@dataclass
class Assignment:
    rep: Rep | None
    reason: str


@dataclass
class Assigner:
    roster: Roster
    load: dict[str, int] = field(default_factory=dict)  # email -> new assignments in window
    log: list[str] = field(default_factory=list)  # emails of new assignments, oldest first

    @classmethod
    def from_history(
        cls, roster: Roster, history: pd.DataFrame, window_start: pd.Timestamp
    ) -> Assigner:
        """Loads and round-robin order from earlier decisions (rows with new assignments)."""
        if history.empty or "owner_email" not in history.columns:
            return cls(roster)
        h = history[(history["decision"] == "routed") & history["owner_email"].notna()]
        if "new_assignment" in h.columns:
            h = h[h["new_assignment"].fillna(True).astype(bool)]
        order = ["as_of", "assign_order"] if "assign_order" in h.columns else ["as_of"]
        h = h.sort_values([*order, "account_domain"], kind="stable")
        emails = h["owner_email"].str.lower()
        recent = emails[pd.to_datetime(h["as_of"]) > window_start]  # (as_of - window, as_of]
        return cls(roster, load=recent.value_counts().to_dict(), log=list(emails))

    def pool(self, role: str, region: str, segment: str) -> list[Rep]:
        reps = [r for r in self.roster.reps if r.covers(role, region, segment)]
        return sorted(reps, key=lambda r: (r.name.lower(), r.email.lower()))

    def assign(self, role: str, region: str, segment: str, prefer: str | None = None) -> Assignment:
        pool = self.pool(role, region, segment)
        if not pool:
            return Assignment(
                None, f"no active {role} covers region {region} and segment {segment}"
            )
        emails = [r.email.lower() for r in pool]
        if prefer is not None and prefer.lower() in emails:
            rep = pool[emails.index(prefer.lower())]
            if self._has_room(rep):
                return self._take(rep, f"kept with {rep.name}, the account's previous owner")
        start = 0
        for email in reversed(self.log):
            if email in emails:
                start = emails.index(email) + 1
                break
        for i in range(len(pool)):
            rep = pool[(start + i) % len(pool)]
            if self._has_room(rep):
                return self._take(rep, f"round-robin among {len(pool)} {role}(s) in {region}")
        return Assignment(
            None,
            f"all {len(pool)} {role}(s) covering {region}/{segment} are at weekly capacity",
        )

    def has_room(self, role: str, region: str, segment: str) -> bool:
        """Whether `assign` would find a rep now (nothing is taken)."""
        return any(self._has_room(r) for r in self.pool(role, region, segment))

    def _has_room(self, rep: Rep) -> bool:
        return self.load.get(rep.email.lower(), 0) < rep.weekly_capacity

    def _take(self, rep: Rep, reason: str) -> Assignment:
        email = rep.email.lower()
        self.load[email] = self.load.get(email, 0) + 1
        self.log.append(email)
        return Assignment(rep, reason)
