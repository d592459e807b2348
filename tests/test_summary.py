"""The sync summary fits an 80-column terminal, however long the campaign names are."""

from rich.console import Console

from nudge_pipeline.defs.sync import RunOutcome, SyncReport
from nudge_pipeline.sync import compact_summary, summary_table, totals_line

LONG = "Spring re-engagement for lapsed loyalty members in the northern region, wave"
NOT_PUBLISHED = "stage 'Draft' is not in NUDGE_PUBLISH_STAGES (Published)"
NOT_READY = "stage 'Ready to Publish' is not in NUDGE_PUBLISH_STAGES (Published)"


def _run(n: int, state: str, reason: str = "", rows: int = 0) -> RunOutcome:
    return RunOutcome(
        key=f"c{n}~r{n}",
        campaign_id=f"c{n:02d}-7d5c9a52-3c1b-4a53-9d0f-2b8f3e7f1c11",
        run_id=f"{n:02d}9a0b1c2-d3e4-4f50-8a61-7b8c9d0e1f2a",
        campaign_name=f"{LONG} {n}",
        stage="Published",
        state=state,
        rows=rows,
        files=(rows + 999) // 1000,
        reason=reason,
    )


def _report() -> SyncReport:
    runs = [_run(n, "landed", rows=1234 * n) for n in range(1, 5)]
    runs += [_run(10, "failed", "quota_exhausted: the account's daily publish quota is used up")]
    runs += [_run(n, "skipped", NOT_PUBLISHED) for n in range(20, 27)]
    runs += [_run(n, "skipped", NOT_READY) for n in range(30, 33)]
    runs += [_run(40, "up to date")]
    return SyncReport(runs=runs, snapshots={"campaigns": 12}, customer_groups=2, customers=1200)


def _render(renderable: object, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_the_compact_summary_fits_80_columns_one_line_per_run_or_reason() -> None:
    lines = _render(compact_summary(_report()))
    assert lines and max(len(line) for line in lines) <= 80
    # Each landed and failed run on one line, cut names end in an ellipsis.
    for n in (1, 2, 3, 4, 10):
        row = [line for line in lines if f"{n:02d}9a0b1c" in line]
        assert len(row) == 1 and "…" in row[0]
    assert any("1,234" in line for line in lines)
    # Skipped runs: one line per reason, with the count.
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped[0] == f"skipped 7 run(s): {NOT_PUBLISHED}"
    assert skipped[1].startswith("skipped 3 run(s): stage 'Ready to Publish'") and len(skipped) == 2
    assert not any("r40" in line or "409a0b1c" in line for line in lines)


def test_the_totals_line_wraps_as_text_and_details_list_every_run() -> None:
    assert max(len(line) for line in _render(totals_line(_report()))) <= 80
    # The full table is for wide terminals: one row per run, the note in full.
    details = _render(summary_table(_report()), width=220)
    for n in (1, 10, 20, 30, 40):
        assert sum(f"{n:02d}9a0b1c2-d3" in line for line in details) == 1
    assert sum(NOT_READY in line for line in details) == 3
