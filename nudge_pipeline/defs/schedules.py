"""Daily refresh of the snapshots and of every customer group's customers."""

import dagster as dg

from nudge_pipeline.defs.assets.common import MAX_PARTITIONS_PER_RUN
from nudge_pipeline.defs.jobs import customers_job, snapshots_job
from nudge_pipeline.defs.partitions import CUSTOMER_GROUPS

daily_snapshots_schedule = dg.ScheduleDefinition(
    name="daily_snapshots_schedule",
    job=snapshots_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def partition_ranges(keys: list[str], size: int) -> list[tuple[str, str]]:
    """(first, last) of consecutive chunks, for runs that cover several partitions."""
    return [(keys[i], keys[min(i + size, len(keys)) - 1]) for i in range(0, len(keys), size)]


def range_tags(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@dg.schedule(
    name="daily_customers_schedule",
    job=customers_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def daily_customers_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    keys = list(context.instance.get_dynamic_partitions(CUSTOMER_GROUPS))
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        dg.RunRequest(run_key=f"customers:{stamp}:{first}", tags=range_tags(first, last))
        for first, last in partition_ranges(keys, MAX_PARTITIONS_PER_RUN)
    ]
