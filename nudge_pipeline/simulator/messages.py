"""Generated campaign messages and their CSV export files.

Messages are a pure function of (run, row); every CSV rule of the contract shows up within
any run of at least len(TEMPLATES) rows, and the file-level variants (BOM, line ending, extra
column, how the empty string is written) change from run to run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nudge_pipeline.simulator.data import FIRST_NAMES, CustomerGroup, Run, customer_id

TEMPLATES = (
    "Hi {name}, your order has shipped.",
    "Hi {name}, save 20%, today only, on shoes, bags and hats.",
    'Hi {name}, our "Summer" sale starts now.',
    "Hi {name},\nyour basket misses you.\nCome back soon!",
    "Hi {name},\r\nyour points expire on Friday.",
    "🎉 {name}, you unlocked a reward! 🛍️✨",
    "こんにちは{name}さん、新しいクーポンが届きました。",
    "Привет, {name}! Скидка 15% только сегодня.",
    "مرحبا {name}، لديك عرض جديد",
    "NA",
    "null",
    "None",
    "",
    '{name} wrote "hi, there"\r\nand "bye"\n',
    "  {name}, spaces at both ends  ",
    "Tab\tseparated\tnote for {name}",
    '"Quoted from the start", said {name}',
    "NULL",
    "N/A",
    "NaN",
    "#N/A",
    "{name}: 100% off: €5, £3, ¥500, ₹80",
    "Dear {name}, thank you for being with us for another year. As a small token of our "
    "appreciation we have added bonus points to your account, which you can spend on anything "
    "in store or online until the end of the month.",
    "{name}, new arrivals in your size are waiting for you.",
)
CHANNELS = ("email", "sms", "push", "")
EXTRA_COLUMN = "channel"


@dataclass(frozen=True)
class CsvFormat:
    bom: bool
    line_ending: str
    extra_column: str  # "none" | "end" | "start"
    quote_empty: bool

    @classmethod
    def for_run(cls, run: Run) -> CsvFormat:
        k = run.format_ordinal
        return cls(
            bom=k % 2 == 0,
            line_ending="\r\n" if (k // 2) % 2 == 0 else "\n",
            extra_column=("none", "end", "start")[k % 3],
            quote_empty=(k // 4) % 2 == 0,
        )

    def header(self) -> str:
        if self.extra_column == "end":
            return f"customer_id,message,{EXTRA_COLUMN}"
        if self.extra_column == "start":
            return f"{EXTRA_COLUMN},customer_id,message"
        return "customer_id,message"


def _csv_field(value: str, quote_empty: bool) -> str:
    if value == "":
        return '""' if quote_empty else ""
    if any(c in value for c in ',"\r\n') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _offset(run: Run) -> int:
    return sum(run.run_id.encode()) % len(TEMPLATES)


def message_text(run: Run, row: int) -> str:
    offset = _offset(run)
    template = TEMPLATES[(row + offset) % len(TEMPLATES)]
    return template.format(name=FIRST_NAMES[(row * 7 + offset) % len(FIRST_NAMES)])


def iter_messages(
    run: Run, group: CustomerGroup, start: int, stop: int
) -> Iterator[dict[str, str]]:
    for row in range(start, min(stop, run.message_count)):
        yield {"customer_id": customer_id(group, row), "message": message_text(run, row)}


def file_count(run: Run, rows_per_file: int) -> int:
    return -(-run.message_count // max(rows_per_file, 1))


def render_file(
    run: Run, group: CustomerGroup, file_num: int, rows_per_file: int, path: Path
) -> None:
    """Write one export file atomically; rows are pre-quoted so large runs render fast."""
    fmt = CsvFormat.for_run(run)
    offset = _offset(run)
    n_templates, n_names = len(TEMPLATES), len(FIRST_NAMES)
    encoded = [
        [_csv_field(t.format(name=name), fmt.quote_empty) for name in FIRST_NAMES]
        for t in TEMPLATES
    ]
    start = file_num * rows_per_file
    stop = min(start + rows_per_file, run.message_count)
    prefix = f"{group.ordinal:03d}"
    eol = fmt.line_ending
    lines = [("\ufeff" if fmt.bom else "") + fmt.header() + eol]
    rows = range(start, stop)
    ids = [f"{prefix}{row + 1:07d}" for row in rows]
    texts = [encoded[(row + offset) % n_templates][(row * 7 + offset) % n_names] for row in rows]
    if fmt.extra_column == "none":
        lines += [f"{cid},{text}{eol}" for cid, text in zip(ids, texts, strict=True)]
    elif fmt.extra_column == "end":
        lines += [
            f"{cid},{text},{CHANNELS[row % 4]}{eol}"
            for cid, text, row in zip(ids, texts, rows, strict=True)
        ]
    else:
        lines += [
            f"{CHANNELS[row % 4]},{cid},{text}{eol}"
            for cid, text, row in zip(ids, texts, rows, strict=True)
        ]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write("".join(lines).encode("utf-8"))
    os.replace(tmp, path)
