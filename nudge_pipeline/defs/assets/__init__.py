"""Assets: snapshots, the per-run message flow and customers."""
