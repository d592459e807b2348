"""docs/analysts.md read as data: its data dictionary and its SQL recipes.

The dictionary is the source of the warehouse's COMMENT ON statements. After changing it,
print the statements with `.venv/bin/python -m tests.warehouse.analysts_doc` and put the
changed ones in a new migration; test_analysts.py checks the database against the doc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
DIALECTS = ("duckdb", "postgresql")

_OBJECT = re.compile(r"^### `nudgescribe\.(\w+)` \((table|view)\)$")
_COLUMN = re.compile(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|$")
_RECIPE = re.compile(r"^<!-- recipe: (\w+); (both|duckdb|postgresql) -->$")


@dataclass(frozen=True)
class DictionaryEntry:
    name: str
    kind: str  # "table" or "view"
    comment: str
    columns: dict[str, str]  # column name -> comment, in the doc's order
    types: dict[str, str]  # column name -> the type the doc names


def dictionary(doc: Path = DOC) -> dict[str, DictionaryEntry]:
    entries: dict[str, DictionaryEntry] = {}
    lines = doc.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = _OBJECT.match(line)
        if not match:
            continue
        rest = lines[i + 1 :]
        paragraph = next(text for text in rest if text.strip())
        columns: dict[str, str] = {}
        types: dict[str, str] = {}
        for text in rest:
            if text.startswith("#"):
                break
            column = _COLUMN.match(text)
            if column:
                columns[column[1]] = column[3].strip()
                types[column[1]] = column[2].strip()
        entries[match[1]] = DictionaryEntry(match[1], match[2], paragraph, columns, types)
    return entries


def recipes(doc: Path = DOC) -> dict[str, dict[str, str]]:
    """Recipe name -> dialect -> SQL (without the final semicolon)."""
    found: dict[str, dict[str, str]] = {}
    text = doc.read_text(encoding="utf-8")
    for match in re.finditer(r"^<!-- recipe: .*?-->\n```sql\n(.*?)```$", text, re.S | re.M):
        header = _RECIPE.match(match[0].splitlines()[0])
        assert header, match[0].splitlines()[0]
        sql = match[1].strip().removesuffix(";")
        dialects = DIALECTS if header[2] == "both" else (header[2],)
        for dialect in dialects:
            assert dialect not in found.get(header[1], {}), f"recipe {header[1]} twice"
            found.setdefault(header[1], {})[dialect] = sql
    return found


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(entries: dict[str, DictionaryEntry]) -> list[str]:
    statements = []
    for entry in entries.values():
        target = f"nudgescribe.{entry.name}"
        statements.append(f"COMMENT ON {entry.kind.upper()} {target} IS {_literal(entry.comment)};")
        for column, comment in entry.columns.items():
            statements.append(f"COMMENT ON COLUMN {target}.{column} IS {_literal(comment)};")
    return statements


if __name__ == "__main__":
    print("\n".join(comment_statements(dictionary())))
