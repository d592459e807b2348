"""A local Nudgescribe server that follows the API contract, with seeded data and faults."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nudge_pipeline.simulator.config import SimConfig
    from nudge_pipeline.simulator.harness import SimAccount, SimHandle, run_simulator

__all__ = ["SimAccount", "SimConfig", "SimHandle", "run_simulator"]
_MODULE_OF = {
    "SimConfig": "config",
    "SimAccount": "harness",
    "SimHandle": "harness",
    "run_simulator": "harness",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: every `nudge-pipeline` command imports the `simulate` command's
    # module, and only `simulate` and `demo` need the simulator (about 7 MB and 70 ms).
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
