"""`brandcast employees …` commands."""

import asyncio
import csv
import os
import re
import sys
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

from app.core.commands import App, CommandFailed, run_command
from app.core.config import get_settings
from app.core.principal import Principal
from app.employees import sync
from app.employees.schemas import (
    ATTRIBUTE_KEY_PATTERN,
    MAX_BULK_RECORDS,
    BulkSyncOut,
    EmployeeRecord,
    SyncMode,
)

employees_cli = App(help="The employee directory.", no_args_is_help=True)

console = Console(stderr=True)
CLI_PRINCIPAL = Principal.system("cli")
ATTRIBUTE_PREFIX = "attributes."
COLUMNS = frozenset(EmployeeRecord.model_fields) - {"attributes"}
SHOWN_DEACTIVATIONS = 50  # external ids a dry run prints; the count is whole


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


async def _apply(
    parsed: CsvImport,
    mode: SyncMode,
    batch_size: int,
    *,
    dry_run: bool = False,
    max_deactivation_share: float | None = None,
) -> BulkSyncOut:
    # one transaction for the whole file, so a full sync across batches is atomic too
    async def _sync(session: AsyncSession) -> BulkSyncOut:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # no bar, and no blank line, in a log or a pipe
        ) as progress:
            task = progress.add_task(
                "Checking employees" if dry_run else "Importing employees",
                total=len(parsed.records),
            )
            return await sync.sync_employees(
                session,
                CLI_PRINCIPAL,
                records=parsed.records,
                mode=mode,
                batch_size=batch_size,
                on_progress=lambda n: progress.advance(task, n),
                dry_run=dry_run,
                max_deactivation_share=max_deactivation_share,
            )

    return await run_command(_sync)


def _invalid_records(parsed: CsvImport, exc: sync.InvalidRecords) -> typer.Exit:
    _report(
        [
            (parsed.lines[p.index], p.field, p.describe(lambda i: f"line {parsed.lines[i]}"))
            for p in exc.problems
        ]
    )
    return typer.Exit(code=1)


def _can_ask() -> bool:
    """A person at a terminal can answer a question (not a pipe, a cron job or CI)."""
    return sys.stdin.isatty() and not os.environ.get("CI")


def _confirm_mass_deactivation(exc: sync.MassDeactivation, *, yes: bool) -> None:
    """Go on with `--yes` or a person's yes; otherwise stop, saying how to go on."""
    what = (
        f"This full sync deactivates {exc.count:,} of {exc.active:,} active employees "
        f"({exc.count / max(exc.active, exc.count):.0%}), more than "
        f"BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE ({exc.max_share:.0%})"
    )
    if yes:
        console.print(f"[yellow]{what}; going ahead (--yes).[/yellow]")
        return
    if not _can_ask():
        raise CommandFailed(
            f"{what}; nothing was changed. Preview it with --dry-run, then run again with --yes "
            "to apply it."
        ) from exc
    example = ", ".join(exc.sample[:10])
    # Text: external ids are data, never markup
    console.print(Text.assemble((what, "yellow"), ", for example: ", example), soft_wrap=True)
    if not typer.confirm("Deactivate them?", default=False, err=True):
        raise CommandFailed("nothing was changed") from exc


def _print_counts(title: str, counts: BulkSyncOut) -> None:
    table = Table("created", "updated", "unchanged", "deactivated", title=title)
    table.add_row(
        str(counts.created), str(counts.updated), str(counts.unchanged), str(counts.deactivated)
    )
    Console().print(table)
    if counts.dry_run and counts.deactivated:
        shown = counts.deactivated_external_ids[:SHOWN_DEACTIVATIONS]
        more = counts.deactivated - len(shown)
        tail = f" and {more:,} more" if more else ""
        print(f"would deactivate {counts.deactivated:,}: {', '.join(shown)}{tail}")


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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the file and show what it would change (and who a full sync would "
            "deactivate), changing nothing.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="Do not ask before a full sync deactivates more than the allowed share of the "
            "active employees (see above).",
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BULK_RECORDS, help="Records per write (progress step).")
    ] = 1000,
) -> None:
    """Create or update employees from a CSV file, all or nothing.

    Columns are employee attributes (`external_id` required; `email`, `department`, `country`,
    `hire_date` as YYYY-MM-DD, `customer_facing` and `active` as true/false, …) and
    `attributes.<key>` for custom attributes (imported as text). Empty cells are unset.

    A full sync that would deactivate more than BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE of the
    active employees (default 0.10) asks first; without a terminal it stops unless `--yes`.
    """
    try:
        parsed = read_csv(file)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CommandFailed(f"{file} is not a readable UTF-8 CSV file: {exc}") from exc
    if parsed.errors:
        _report(parsed.errors)
        raise typer.Exit(code=1)

    mode = SyncMode.FULL_SYNC if full_sync else SyncMode.UPSERT
    limit = get_settings().sync_max_deactivation_share
    try:
        try:
            counts = asyncio.run(
                _apply(parsed, mode, batch_size, dry_run=dry_run, max_deactivation_share=limit)
            )
        except sync.MassDeactivation as exc:  # rolled back; go on only if confirmed
            _confirm_mass_deactivation(exc, yes=yes)
            counts = asyncio.run(_apply(parsed, mode, batch_size))
    except sync.InvalidRecords as exc:
        raise _invalid_records(parsed, exc) from exc
    title = f"{file.name}: dry run, nothing changed" if dry_run else f"Imported {file.name}"
    _print_counts(title, counts)
