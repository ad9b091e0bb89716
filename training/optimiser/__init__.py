"""The rollout-plan optimiser: reads a fitted `ImpactModel` through its public queries and
chooses a plan with a mixed-integer program (see `optimiser`)."""

from training.optimiser.optimiser import OptimiseError, optimise
from training.optimiser.request import OptimiseRequest

__all__ = ["OptimiseError", "OptimiseRequest", "optimise"]
