"""Dagster definitions: resources, partitions, assets, checks, sensors, schedules and jobs.

This package orchestrates the client, the lake and the warehouse; it speaks no HTTP and
no SQL itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


def build_defs(resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    from nudge_pipeline.defs.assets.customers import customers
    from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
    from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
    from nudge_pipeline.defs.automation import (
        automation_sensor,
        found_campaign_runs,
        new_campaign_runs,
    )
    from nudge_pipeline.defs.freshness import freshness_checks, freshness_sensor
    from nudge_pipeline.defs.jobs import ALL_JOBS
    from nudge_pipeline.defs.resources import resources_from_env
    from nudge_pipeline.defs.schedules import daily_customers_schedule, daily_snapshots_schedule
    from nudge_pipeline.defs.sensors import nudgescribe_discovery_sensor

    fresh = freshness_checks([*SNAPSHOT_ASSETS, customers])
    return dg.Definitions(
        assets=[
            new_campaign_runs,
            found_campaign_runs,
            *SNAPSHOT_ASSETS,
            *MESSAGE_ASSETS,
            customers,
        ],
        asset_checks=fresh,
        jobs=ALL_JOBS,
        sensors=[nudgescribe_discovery_sensor, automation_sensor, freshness_sensor(fresh)],
        schedules=[daily_snapshots_schedule, daily_customers_schedule],
        resources=dict(resources) if resources is not None else resources_from_env(),
    )
