"""`brandcast employees …` commands."""

import asyncio
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.core.database import run_in_transaction
from app.core.errors import AppError
from app.core.principal import Principal
from app.employees import sync
from app.employees.schemas import (
    ATTRIBUTE_KEY_PATTERN,
    MAX_BULK_RECORDS,
    BulkSyncOut,
    EmployeeRecord,
    SyncMode,
)

employees_cli = typer.Typer(help="The employee directory.", no_args_is_help=True)

console = Console(stderr=True)
CLI_PRINCIPAL = Principal.system("cli")
ATTRIBUTE_PREFIX = "attributes."
COLUMNS = frozenset(EmployeeRecord.model_fields) - {"attributes"}


@dataclass
class CsvImport:
    """The valid records of a file, the line each starts on, and what is wrong with the rest."""

    records: list[EmployeeRecord] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, column, message


def _header_errors(header: list[str]) -> list[tuple[int, str, str]]:
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append((1, name, "the column appears twice"))
        seen.add(name)
        if name.startswith(ATTRIBUTE_PREFIX):
            if not re.match(ATTRIBUTE_KEY_PATTERN, name.removeprefix(ATTRIBUTE_PREFIX)):
                errors.append((1, name, "custom attribute keys match [A-Za-z_][A-Za-z0-9_]{0,63}"))
        elif name not in COLUMNS:
            errors.append(
                (1, name, "unknown column; use an employee attribute or attributes.<key>")
            )
    if "external_id" not in seen:
        errors.append((1, "external_id", "the column is required"))
    return errors


def _row_data(header: list[str], cells: list[str]) -> dict[str, Any]:
    """Cells by column; an empty cell means "not set", `attributes.<key>` cells are strings."""
    data: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for name, cell in zip(header, cells, strict=True):
        if not cell.strip():
            continue
        if name.startswith(ATTRIBUTE_PREFIX):
            attributes[name.removeprefix(ATTRIBUTE_PREFIX)] = cell
        else:
            data[name] = cell
    if attributes:
        data["attributes"] = attributes
    return data


def _column_of(loc: tuple[Any, ...]) -> str:
    if loc and loc[0] == "attributes" and len(loc) > 1:
        return f"{ATTRIBUTE_PREFIX}{loc[1]}"
    return str(loc[0]) if loc else "-"


def read_csv(path: Path) -> CsvImport:
    """Parse and validate every row; nothing is applied here."""
    out = CsvImport()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            out.errors.append((1, "-", "the file is empty; expected a header row"))
            return out
        out.errors += _header_errors(header)
        if out.errors:
            return out
        last_line = reader.line_num
        for cells in reader:
            line, last_line = last_line + 1, reader.line_num  # where a multi-line row starts
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                out.errors.append((line, "-", f"{len(cells)} cells, expected {len(header)}"))
                continue
            try:
                record = EmployeeRecord.model_validate(_row_data(header, cells))
            except ValidationError as exc:
                for err in exc.errors():
                    message = str(err["msg"]).removeprefix("Value error, ")
                    out.errors.append((line, _column_of(err["loc"]), message))
                continue
            out.records.append(record)
            out.lines.append(line)
    if not out.records and not out.errors:
        out.errors.append((1, "-", "the file has no employee rows"))
    return out


def _report(errors: list[tuple[int, str, str]]) -> None:
    table = Table("line", "column", "problem", title="Rows that cannot be imported")
    for line, column, message in sorted(errors, key=lambda e: e[0]):
        table.add_row(str(line), Text(column), Text(message))  # Text: no markup from the data
    console.print(table)
    console.print(f"[red]{len(errors)} problem(s); nothing was imported.[/red]")


async def _apply(parsed: CsvImport, mode: SyncMode, batch_size: int) -> BulkSyncOut:
    # one transaction for the whole file, so a full sync across batches is atomic too
    async def _sync(session: AsyncSession) -> BulkSyncOut:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Importing employees", total=len(parsed.records))
            return await sync.sync_employees(
                session,
                CLI_PRINCIPAL,
                records=parsed.records,
                mode=mode,
                batch_size=batch_size,
                on_progress=lambda n: progress.advance(task, n),
            )

    return await run_in_transaction(_sync, get_settings())


@employees_cli.command("import")
def import_employees(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV file with a header row."
        ),
    ],
    full_sync: Annotated[
        bool,
        typer.Option("--full-sync", help="Also deactivate active employees absent from the file."),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BULK_RECORDS, help="Records per write (progress step).")
    ] = 1000,
) -> None:
    """Create or update employees from a CSV file, all or nothing.

    Columns are employee attributes (`external_id` required; `email`, `department`, `country`,
    `hire_date` as YYYY-MM-DD, `customer_facing` and `active` as true/false, …) and
    `attributes.<key>` for custom attributes (imported as text). Empty cells are unset.
    """
    try:
        parsed = read_csv(file)
    except (UnicodeDecodeError, csv.Error) as exc:
        console.print(f"[red]error:[/red] {file} is not a readable UTF-8 CSV file: {exc}")
        raise typer.Exit(code=1) from exc
    if parsed.errors:
        _report(parsed.errors)
        raise typer.Exit(code=1)

    mode = SyncMode.FULL_SYNC if full_sync else SyncMode.UPSERT
    try:
        counts = asyncio.run(_apply(parsed, mode, batch_size))
    except sync.InvalidRecords as exc:
        _report(
            [
                (
                    parsed.lines[p.index],
                    p.field,
                    p.describe(lambda i: f"line {parsed.lines[i]}"),
                )
                for p in exc.problems
            ]
        )
        raise typer.Exit(code=1) from exc
    except AppError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=1) from exc

    table = Table("created", "updated", "unchanged", "deactivated", title=f"Imported {file.name}")
    table.add_row(
        str(counts.created), str(counts.updated), str(counts.unchanged), str(counts.deactivated)
    )
    Console().print(table)
