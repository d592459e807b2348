"""Move a lake of the legacy layout to the current one.

Legacy lakes named their folders ``key=value`` after the columns inside the files
(``messages/campaign_id=…/run_id=…``, ``customers/customer_group_id=…``,
``<snapshot>/synced_at=…``), which readers cannot open (see ``paths``). The pipeline
itself reads legacy message files as they are; this moves them so that pyarrow, pandas and
DuckDB can read whole datasets:

- message and customer files are renamed into the current folders, unchanged; where the
  current folder already holds the same part, the legacy copy is dropped;
- each legacy snapshot is rewritten in its sync's folder with typed times and
  ``synced_at``.

Run it while no sync runs: ``python -m nudge_pipeline.lake.migrate <lake root>``. It is
idempotent; a run cut short is finished by running it again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from urllib.parse import unquote

from .paths import (
    CUSTOMERS,
    LEGACY_CAMPAIGN_KEY,
    LEGACY_CUSTOMER_GROUP_KEY,
    LEGACY_RUN_KEY,
    LEGACY_SYNC_KEY,
    MESSAGES,
    STATE,
    snapshot_path,
)
from .store import Lake
from .tables import write_table


@dataclass
class MigrationReport:
    moved: int = 0  # message and customer files renamed into the current layout
    superseded: int = 0  # legacy files dropped: the current layout held them already
    snapshots: int = 0  # legacy snapshots rewritten


def migrate_layout(lake: Lake) -> MigrationReport:
    """Bring every legacy folder of ``lake`` to the current layout."""
    report = MigrationReport()
    for campaign in _keyed(lake, MESSAGES, LEGACY_CAMPAIGN_KEY):
        for run in _keyed(lake, campaign, LEGACY_RUN_KEY):
            target = f"{MESSAGES}/{_value(campaign)}/{_value(run)}"
            _move_files(lake, run, target, report)
        lake.delete_dir(campaign)
    for group in _keyed(lake, CUSTOMERS, LEGACY_CUSTOMER_GROUP_KEY):
        target = f"{CUSTOMERS}/{_value(group)}"
        if lake.list_files(target):
            report.superseded += len(lake.list_files(group))
        else:
            _move_files(lake, group, target, report)
        lake.delete_dir(group)
    for name in lake.list_dirs(""):
        if name in (MESSAGES, CUSTOMERS, STATE):
            continue
        for folder in _keyed(lake, name, LEGACY_SYNC_KEY):
            _rewrite_snapshots(lake, name, folder, report)
            lake.delete_dir(folder)
    return report


def _keyed(lake: Lake, rel_dir: str, key: str) -> list[str]:
    return [d for d in lake.list_dirs(rel_dir) if d.rsplit("/", 1)[-1].startswith(f"{key}=")]


def _value(folder: str) -> str:
    """The (encoded) value of a ``key=value`` folder: the current layout's folder name."""
    return folder.rsplit("/", 1)[-1].partition("=")[2]


def _move_files(lake: Lake, source_dir: str, target_dir: str, report: MigrationReport) -> None:
    for rel in lake.list_files(source_dir):
        target = f"{target_dir}/{rel.rsplit('/', 1)[-1]}"
        if lake.exists(target):
            lake.delete(rel)
            report.superseded += 1
        else:
            lake.move(rel, target)
            report.moved += 1


def _rewrite_snapshots(lake: Lake, name: str, folder: str, report: MigrationReport) -> None:
    sync_id = unquote(_value(folder))
    for rel in lake.list_files(folder):
        if not rel.endswith(".parquet"):
            continue
        source = lake.parquet_file(rel)
        table = source.read()
        metadata = {k.decode(): v.decode() for k, v in (source.metadata.metadata or {}).items()}
        metadata.pop("ARROW:schema", None)
        write_table(
            lake,
            snapshot_path(name, sync_id),
            table.replace_schema_metadata(None),
            metadata=metadata,
        )
        report.snapshots += 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m nudge_pipeline.lake.migrate <lake root>", file=sys.stderr)
        return 2
    lake = Lake(args[0])
    report = migrate_layout(lake)
    lake.sync()
    print(
        f"{lake.root}: {report.moved} files moved, {report.superseded} superseded legacy "
        f"files dropped, {report.snapshots} snapshots rewritten"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
