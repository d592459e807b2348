"""HTTP routes of the simulator, one module per area of the contract."""
