"""A local Nudgescribe server that follows the API contract, with seeded data and faults."""

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.harness import SimAccount, SimHandle, run_simulator

__all__ = ["SimAccount", "SimConfig", "SimHandle", "run_simulator"]
