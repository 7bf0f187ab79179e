"""A seeded sample warehouse for a fictional B2B product-led product ("Loopwise")."""

from handoff.sample.generator import GENERATOR_VERSION, SIZES, SampleSpec, generate

__all__ = ["GENERATOR_VERSION", "SIZES", "SampleSpec", "generate"]
