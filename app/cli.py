"""`brandcast`: the admin command line."""

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.jwt import JWTConfigError, sign_hs256
from app.auth.signin import Role
from app.core import migrations
from app.core.config import SettingsError, get_settings
from app.core.database import Database, run_in_transaction, utcnow
from app.core.errors import AppError
from app.core.pagination import PageParams
from app.core.principal import Principal, Scope
from app.employees.cli import employees_cli
from app.main import create_app
from app.messages import service as messages_service
from app.receipts.reminders import emit_due_reminders
from app.tokens import service as tokens_service
from app.tokens.schemas import TokenCreate
from app.webhooks.dispatcher import run_dispatch

cli = typer.Typer(help="Brandcast: internal-communications content service.", no_args_is_help=True)
tokens_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(employees_cli, name="employees")

console = Console(stderr=True)
CLI_PRINCIPAL = Principal.system("cli")
T = TypeVar("T")


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work in one transaction against the configured database."""
    try:
        return asyncio.run(run_in_transaction(work, get_settings()))
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


@cli.command("publish-due")
def publish_due() -> None:
    """Publish the scheduled messages that are due and announce expired ones (one pass)."""

    async def _pass(session: AsyncSession) -> tuple[int, int]:
        now = utcnow()
        published = await messages_service.publish_due(session, now=now)
        expired = await messages_service.announce_expired(session, now=now)
        return len(published), expired

    published, expired = run_in_session(_pass)
    print(f"published {published} message(s); announced {expired} expired message(s)")


@cli.command("dev-token")
def dev_token(
    employee: Annotated[
        str, typer.Option(help="The employee's external id (or e-mail, if that is the claim).")
    ],
    role: Annotated[
        list[Role] | None, typer.Option(help="A role to grant; repeat for more.")
    ] = None,
    ttl_minutes: Annotated[int, typer.Option(min=1, max=24 * 60, help="Lifetime.")] = 60,
) -> None:
    """Sign an employee JWT with the HS256 secret, for local trials; the token is the last line."""
    settings = get_settings()
    claims: dict[str, object] = {"sub": employee, settings.jwt_employee_claim: employee}
    claims[settings.jwt_roles_claim] = [r.value for r in role or []]
    try:
        token = sign_hs256(settings, claims, ttl=timedelta(minutes=ttl_minutes))
    except JWTConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    if "HS256" not in settings.jwt_algorithm_list:
        console.print("[yellow]note:[/yellow] BRANDCAST_JWT_ALGORITHMS does not allow HS256 here")
    console.print(f"[green]signed[/green] a token for {employee}, valid {ttl_minutes} min")
    print(token)


@cli.command("dispatch-events")
def dispatch_events() -> None:
    """Deliver the webhook events that are due (one pass, for cron-style deployments)."""

    async def _run() -> int:
        settings = get_settings()
        db = Database(settings)
        try:
            return await run_dispatch(db, settings)
        finally:
            await db.dispose()

    print(f"attempted {asyncio.run(_run())} webhook deliveries")


@cli.command("emit-due-reminders")
def emit_due_reminders_command() -> None:
    """Emit the acknowledgement reminder and overdue events that are due (one pass)."""
    emitted = run_in_session(lambda s: emit_due_reminders(s, now=utcnow(), settings=get_settings()))
    print(f"emitted {emitted} reminder/overdue event(s)")


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
    try:
        cli()
    except SettingsError as exc:
        # a setting the service cannot use: one line naming the variable, no traceback
        print(f"brandcast: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
