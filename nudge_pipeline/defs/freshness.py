"""Freshness checks: a snapshot or the customers not updated within the threshold fail.

The daily schedules refresh them; a failed check means a refresh has not landed for more
than a day. `nudgescribe_freshness_sensor` evaluates the checks; they can also be run from the
UI. These are asset checks (a pass/fail result with metadata, alertable like any check)
rather than a `FreshnessPolicy`, whose state needs the instance's freshness daemon and
produces no check result.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

# The one place the threshold lives: a daily refresh plus two hours of slack.
FRESHNESS_THRESHOLD = timedelta(hours=26)
FRESHNESS_SENSOR = "nudgescribe_freshness_sensor"
FRESHNESS_SENSOR_INTERVAL_SECONDS = 600


def freshness_checks(
    assets: list[dg.AssetsDefinition], threshold: timedelta = FRESHNESS_THRESHOLD
) -> list[dg.AssetChecksDefinition]:
    """A last-update check per asset: it fails when the newest materialization is older.

    For the partitioned `customers` this is the newest materialization of any group.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return list(
            dg.build_last_update_freshness_checks(assets=assets, lower_bound_delta=threshold)
        )


def freshness_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            minimum_interval_seconds=FRESHNESS_SENSOR_INTERVAL_SECONDS,
            name=FRESHNESS_SENSOR,
            default_status=dg.DefaultSensorStatus.STOPPED,
        )
