"""The holdout arm: a deterministic, salted hash of the account domain.

An account's bucket depends only on its domain and the salt, so it stays in the same arm
across runs, as_of dates and model versions. Change the salt only to start a new experiment.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def holdout_bucket(domain: str, salt: str) -> float:
    """A number in [0, 1), uniform over domains, fixed for (salt, domain)."""
    digest = hashlib.sha256(f"{salt}:{domain.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_holdout(domains: pd.Series, share: float, salt: str) -> np.ndarray:
    """True for the domains in the holdout arm (bucket below `share`)."""
    if share <= 0:
        return np.zeros(len(domains), dtype=bool)
    return np.array([holdout_bucket(str(d), salt) < share for d in domains], dtype=bool)
