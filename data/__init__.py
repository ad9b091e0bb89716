"""The data layer: the panel contract and its loader, the causal simulator, calibration.

Nothing here imports from `training` or `serving`.
"""

from data.contract import PanelError, ValidationReport
from data.loader import inspect_panel, load_panel
from data.simulator import SimulatedWorld, WorldSpec, simulate_world

__all__ = ["PanelError", "ValidationReport", "inspect_panel", "load_panel",
           "SimulatedWorld", "WorldSpec", "simulate_world"]
