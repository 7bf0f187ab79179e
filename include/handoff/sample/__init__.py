"""A seeded sample warehouse for a fictional B2B product-led product ("Loopwise")."""

from handoff.sample.generator import SIZES, SampleSpec, generate

__all__ = ["SIZES", "SampleSpec", "generate"]
