"""What the customers and messages assets leave for analysts: typed and marked profile
values, the uncastable count in the metadata, message files with honest sizes and paths."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy import text

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.simulator.data import PROFILE_FIELDS
from nudge_pipeline.warehouse import Warehouse
from tests.defs.conftest import discover_with
from tests.fixtures.simulator import small_world


def test_assets_land_typed_profiles_and_honest_message_files(
    make_simulator: Any, resources_factory: Any, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world(customer_groups=2, customers_per_group=40))
    resources = resources_factory(sim)
    found = discover_with(resources)
    groups, runs = found.group_partition_keys, found.eligible_partition_keys
    assert groups and runs
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, groups)
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, runs)
    assert dg.materialize(SNAPSHOT_ASSETS, instance=instance, resources=resources).success
    landed = dg.materialize(
        [customers], instance=instance, resources=resources, tags=range_tags(groups[0], groups[-1])
    )
    assert landed.success
    started = datetime.now(UTC)
    assert dg.materialize(
        MESSAGE_ASSETS, instance=instance, resources=resources, tags=range_tags(runs[0], runs[-1])
    ).success

    metadata = {}
    for event in landed.get_asset_materialization_events():
        mat = event.materialization
        metadata[str(mat.partition)] = mat.metadata["uncastable_profile_values"].value
    # Every value the simulator writes reads as its field's type.
    assert metadata == dict.fromkeys(groups, 0)

    encrypted = {name for name, _, _, enc in PROFILE_FIELDS if enc}
    lake_root = resources["lake"].lake().root
    with Warehouse(resources["warehouse"].url) as wh, wh.engine.connect() as conn:
        values = conn.execute(
            text(
                "SELECT field_name, field_type, value, is_encrypted, value_number,"
                " value_boolean, value_date, workspace_id"
                " FROM nudgescribe.customer_profile_values"
            )
        ).all()
        first_load = conn.execute(text("SELECT MIN(loaded_at) FROM nudgescribe.messages")).scalar()
        files = conn.execute(
            text(
                "SELECT l.lake_root, f.lake_path, f.byte_count, f.csv_byte_count,"
                " f.parquet_byte_count, f.fetched_at"
                " FROM nudgescribe.message_files AS f CROSS JOIN nudgescribe.lake AS l"
            )
        ).all()
    assert values
    for name, field_type, value, is_encrypted, number, boolean, day, workspace in values:
        assert workspace is not None
        assert is_encrypted == (name in encrypted and value is not None), name
        if value is None:
            continue
        typed = {"number": number, "boolean": boolean, "date": day}
        for kind, typed_value in typed.items():
            assert (typed_value is not None) == (field_type == kind), (name, value)
    assert len(files) == 3 * len(runs)
    for root, lake_path, byte_count, csv_bytes, parquet_bytes, fetched_at in files:
        assert root == lake_root and not lake_path.startswith("/")
        path = Path(root) / lake_path
        assert parquet_bytes == path.stat().st_size
        assert csv_bytes == byte_count and csv_bytes > 0
        # When the download ended: just after its Parquet copy was written, before the load.
        written = datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, UTC)
        assert written <= fetched_at < written + timedelta(seconds=5)
        assert started <= fetched_at <= first_load
