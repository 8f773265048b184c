"""`brandcast`: the admin command line."""

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import migrations
from app.core.config import get_settings
from app.core.database import Database
from app.core.errors import AppError
from app.core.pagination import PageParams
from app.core.principal import Principal, Scope
from app.employees.cli import employees_cli
from app.main import create_app
from app.tokens import service as tokens_service
from app.tokens.schemas import TokenCreate

cli = typer.Typer(help="Brandcast: internal-communications content service.", no_args_is_help=True)
tokens_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(employees_cli, name="employees")

console = Console(stderr=True)
CLI_PRINCIPAL = Principal.system("cli")
T = TypeVar("T")


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work in one transaction against the configured database."""

    async def _run() -> T:
        db = Database(get_settings())
        try:
            async with db.session_scope() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(_run())
    except AppError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=1) from exc


@cli.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    migrations.upgrade()
    console.print("[green]database is at the newest schema[/green]")


@cli.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the OpenAPI document of this version."""
    document = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(document)
    else:
        sys.stdout.write(document)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    skip_migrate: Annotated[bool, typer.Option(help="Do not migrate on start.")] = False,
) -> None:
    """Migrate the database, then serve the API with uvicorn."""
    import uvicorn

    if not skip_migrate:
        migrations.upgrade()
    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
    )


@tokens_cli.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scope: Annotated[list[Scope], typer.Option(help="A scope to grant; repeat for more.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
) -> None:
    """Mint a token; the token itself is the last line of standard output."""
    data = TokenCreate(name=name, scopes=scope, expires_in_days=expires_in_days)
    token = run_in_session(lambda s: tokens_service.mint(s, CLI_PRINCIPAL, data=data))
    console.print(f"[green]created token[/green] {token.id} ({', '.join(token.scopes)})")
    console.print("Store it now: it is not shown again.")
    print(token.token)


@tokens_cli.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""

    async def _all(session: AsyncSession):
        items, page = [], PageParams(limit=200, after=None)
        while True:
            result = await tokens_service.list_tokens(session, CLI_PRINCIPAL, page=page)
            items.extend(result.items)
            if not result.next_cursor:
                return items
            page = PageParams(limit=200, after=(items[-1].created_at, items[-1].id))

    table = Table("id", "name", "prefix", "scopes", "expires", "revoked", "last used")
    for t in run_in_session(_all):
        table.add_row(
            str(t.id),
            t.name,
            t.prefix,
            ", ".join(t.scopes),
            str(t.expires_at or "-"),
            str(t.revoked_at or "-"),
            str(t.last_used_at or "-"),
        )
    Console().print(table)


@tokens_cli.command("revoke")
def tokens_revoke(token_id: uuid.UUID) -> None:
    """Revoke a token by id."""
    run_in_session(lambda s: tokens_service.revoke(s, CLI_PRINCIPAL, token_id=token_id))
    console.print(f"[green]revoked[/green] {token_id}")


def main() -> None:
    cli()
