"""The rollout-plan optimiser (see `optimiser`); its request is `training.requests.OptimiseRequest`."""

from training.optimiser.optimiser import optimise

__all__ = ["optimise"]
