"""Dagster connector that lands Nudgescribe data as Parquet files and warehouse tables."""
