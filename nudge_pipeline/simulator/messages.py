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

# Generated messages are paragraphs, not one-liners; {body} draws one of BODIES so that row
# sizes (about 300 bytes on average) look like real exports.
BODIES = (
    "We picked a few things we think you will love, based on what you looked at last month. "
    "Members get free delivery on every order, and returns are free for 60 days, so there is "
    "no risk in trying something new. Your member discount is applied at checkout.",
    "Your loyalty balance is higher than ever, and points now last for a full year. Spend them "
    "in any store or online, combine them with vouchers, or give them to a friend. Check your "
    "balance in the app, where you can also choose how often we write to you.",
    "This week only: an extra 10% off everything in the new collection, including items that "
    "are already reduced. Stock in your size is limited, so we have kept some aside for you "
    "until Sunday. Reply STOP at any time to stop these messages.",
    "Thank you for being part of our community. Your feedback helped us choose this season's "
    "range, and we would love to hear what you think of it. Tell us in two minutes, and we "
    "will add 200 points to your account as a thank-you.",
)
TEMPLATES = (
    "Hi {name}, your order has shipped. {body}",
    "Hi {name}, save 20%, today only, on shoes, bags and hats. {body}",
    'Hi {name}, our "Summer" sale starts now. {body}',
    "Hi {name},\nyour basket misses you.\n{body}",
    "Hi {name},\r\nyour points expire on Friday.\r\n{body}",
    "🎉 {name}, you unlocked a reward! 🛍️✨ {body}",
    "こんにちは{name}さん、新しいクーポンが届きました。ポイントは今月末まで有効です。",
    "Привет, {name}! Скидка 15% только сегодня. {body}",
    "مرحبا {name}، لديك عرض جديد",
    "NA",
    "null",
    "None",
    "",
    '{name} wrote "hi, there"\r\nand "bye"\n',
    "  {name}, spaces at both ends  ",
    "Tab\tseparated\tnote for {name}. {body}",
    '"Quoted from the start", said {name}. {body}',
    "NULL",
    "N/A",
    "NaN",
    "#N/A",
    "{name}: 100% off: €5, £3, ¥500, ₹80. {body}",
    "Dear {name}, {body}",
    "{name}, new arrivals in your size are waiting for you. {body}",
    "Hello {name}. {body}\n\nSee you soon,\nThe team",
    "{name}, {body}",
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


def _format(template: str, name: str, body: str) -> str:
    return template.format(name=name, body=body)


def message_text(run: Run, row: int) -> str:
    offset = _offset(run)
    return _format(
        TEMPLATES[(row + offset) % len(TEMPLATES)],
        FIRST_NAMES[(row * 7 + offset) % len(FIRST_NAMES)],
        BODIES[(row * 3 + offset) % len(BODIES)],
    )


def recipient_count(run: Run, group: CustomerGroup, unknown_customers: bool) -> int:
    """How many distinct customer ids a run's rows cycle through (row n: n mod this)."""
    if unknown_customers or group.customer_count < 1:
        return max(run.message_count, 1)
    return group.customer_count


def iter_messages(
    run: Run, group: CustomerGroup, start: int, stop: int, recipients: int
) -> Iterator[dict[str, str]]:
    for row in range(start, min(stop, run.message_count)):
        yield {
            "customer_id": customer_id(group, row % recipients),
            "message": message_text(run, row),
        }


def file_count(run: Run, rows_per_file: int) -> int:
    return -(-run.message_count // max(rows_per_file, 1))


def render_file(
    run: Run, group: CustomerGroup, file_num: int, rows_per_file: int, path: Path, recipients: int
) -> None:
    """Write one export file atomically; rows are pre-quoted so large runs render fast."""
    fmt = CsvFormat.for_run(run)
    offset = _offset(run)
    n_templates, n_names, n_bodies = len(TEMPLATES), len(FIRST_NAMES), len(BODIES)
    encoded = [
        [
            [_csv_field(_format(t, name, body), fmt.quote_empty) for body in BODIES]
            for name in FIRST_NAMES
        ]
        for t in TEMPLATES
    ]
    start = file_num * rows_per_file
    stop = min(start + rows_per_file, run.message_count)
    prefix = f"{group.ordinal:03d}"
    eol = fmt.line_ending
    lines = [("\ufeff" if fmt.bom else "") + fmt.header() + eol]
    rows = range(start, stop)
    ids = [f"{prefix}{row % recipients + 1:07d}" for row in rows]
    texts = [
        encoded[(row + offset) % n_templates][(row * 7 + offset) % n_names][
            (row * 3 + offset) % n_bodies
        ]
        for row in rows
    ]
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
