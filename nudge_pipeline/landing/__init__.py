"""The landing engine: campaign runs through publish → poll → download → Parquet → load.

Free of Dagster: `defs/` orchestrates it, `nudgescribe/`, `lake/` and `warehouse/` do the work.
"""
