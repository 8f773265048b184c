"""`brandcast`: the admin command line."""

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.jwt import JWTConfigError, describe_sso, sign_hs256
from app.auth.signin import Role
from app.core import migrations
from app.core.commands import (
    DEBUG_ENV,
    App,
    CommandFailed,
    RootGroup,
    check_database_file,
    database_state,
    run_command,
    with_database,
)
from app.core.config import Settings, get_settings
from app.core.database import redacted_url, utcnow
from app.core.observability import configure_logging
from app.core.pagination import PageParams
from app.core.principal import Principal, Scope
from app.employees.cli import employees_cli
from app.main import API_VERSION, create_app
from app.messages import service as messages_service
from app.receipts.reminders import emit_due_reminders
from app.tokens import service as tokens_service
from app.tokens.schemas import TokenCreate, TokenOut
from app.webhooks.dispatcher import run_dispatch

VERSION = version("brandcast")
SCOPES = [s.value for s in Scope]
ROLES = [r.value for r in Role]

cli = App(
    cls=RootGroup,
    help="Brandcast: internal-communications content service.",
    no_args_is_help=True,
)
tokens_cli = App(help="API tokens: mint, list, revoke.", no_args_is_help=True)
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(employees_cli, name="employees")

console = Console(stderr=True)
log = logging.getLogger("brandcast.serve")
CLI_PRINCIPAL = Principal.system("cli")
T = TypeVar("T")


@cli.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar=DEBUG_ENV,
            help="On a failure, show the full traceback instead of one line (or set "
            "BRANDCAST_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """Brandcast: internal-communications content service."""


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work in one transaction against the configured, migrated database."""
    return asyncio.run(run_command(work))


@cli.command()
def migrate() -> None:
    """Bring the database to the newest schema (creating a SQLite file if there is none)."""
    check_database_file(get_settings(), create=True)
    migrations.upgrade()
    console.print("[green]database is at the newest schema[/green]")


@cli.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write the document to this file instead of stdout.")
    ] = None,
) -> None:
    """Print (or write) the OpenAPI document of this version."""
    document = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(document)
    else:
        sys.stdout.write(document)


@cli.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    skip_migrate: Annotated[
        bool,
        typer.Option(
            "--skip-migrate",
            help="Do not migrate on start (the database must be migrated already).",
        ),
    ] = False,
) -> None:
    """Migrate the database, then serve the API with uvicorn."""
    import uvicorn

    settings = get_settings()
    check_database_file(settings, create=not skip_migrate)
    configure_logging(settings.log_level)
    if not skip_migrate:
        migrations.upgrade()
    state = asyncio.run(database_state(settings))
    _log_start(settings, state, host=host, port=port, workers=workers)
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


def _log_start(
    settings: Settings, state: migrations.MigrationState, *, host: str, port: int, workers: int
) -> None:
    """What an operator needs to know first: which version, on which database, where."""
    authority = f"[{host}]" if ":" in host else host
    base = f"http://{authority}:{port}"
    shown = f"http://localhost:{port}" if host in ("0.0.0.0", "::") else base
    database = redacted_url(settings.database_url)
    sso, warnings = describe_sso(settings)
    lines: list[tuple[str, dict[str, object]]] = [
        (f"brandcast {VERSION} (API {API_VERSION})", {"version": VERSION}),
        (
            f"database {database}: {state.describe()}",
            {"database": database, "migration": {"current": state.current, "head": state.head}},
        ),
        (f"listening on {base} ({workers} worker(s))", {"listen": base, "workers": workers}),
        (f"API docs at {shown}/docs and {shown}/redoc", {"docs": f"{shown}/docs"}),
        (f"employee SSO: {sso}", {"sso": sso}),
    ]
    for message, fields in lines:
        log.info(message, extra={"fields": fields})
    for warning in warnings:
        log.warning(warning)


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
        list[Role] | None,
        typer.Option(
            metavar="ROLE",
            help=f"A role to grant, one of: {', '.join(ROLES)}; repeat for more.",
        ),
    ] = None,
    ttl_minutes: Annotated[
        int, typer.Option(min=1, max=24 * 60, help="Minutes until the token expires.")
    ] = 60,
) -> None:
    """Sign an employee JWT with the HS256 secret, for local trials; the token is the last line."""
    settings = get_settings()
    claims: dict[str, object] = {"sub": employee, settings.jwt_employee_claim: employee}
    claims[settings.jwt_roles_claim] = [r.value for r in role or []]
    try:
        token = sign_hs256(settings, claims, ttl=timedelta(minutes=ttl_minutes))
    except JWTConfigError as exc:
        raise CommandFailed(str(exc)) from exc
    if "HS256" not in settings.jwt_algorithm_list:
        console.print("[yellow]note:[/yellow] BRANDCAST_JWT_ALGORITHMS does not allow HS256 here")
    console.print(f"[green]signed[/green] a token for {employee}, valid {ttl_minutes} min")
    print(token)


@cli.command("dispatch-events")
def dispatch_events() -> None:
    """Deliver the webhook events that are due (one pass, for cron-style deployments)."""

    settings = get_settings()
    attempted = asyncio.run(with_database(lambda db: run_dispatch(db, settings), settings))
    print(f"attempted {attempted} webhook deliveries")


@cli.command("emit-due-reminders")
def emit_due_reminders_command() -> None:
    """Emit the acknowledgement reminder and overdue events that are due (one pass)."""
    emitted = run_in_session(lambda s: emit_due_reminders(s, now=utcnow(), settings=get_settings()))
    print(f"emitted {emitted} reminder/overdue event(s)")


@tokens_cli.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for (shown in lists and audits).")],
    scope: Annotated[
        list[Scope],
        typer.Option(
            metavar="SCOPE",
            help=f"A scope to grant, one of: {', '.join(SCOPES)}; repeat for more.",
        ),
    ],
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days until the token expires (default: never)."),
    ] = None,
) -> None:
    """Mint a token; the token itself is the last line of standard output."""
    data = TokenCreate(name=name, scopes=scope, expires_in_days=expires_in_days)
    token = run_in_session(lambda s: tokens_service.mint(s, CLI_PRINCIPAL, data=data))
    console.print(f"[green]created token[/green] {token.id} ({', '.join(token.scopes)})")
    console.print("Store it now: it is not shown again.")
    print(token.token)


async def _all_tokens(session: AsyncSession) -> list[TokenOut]:
    items: list[TokenOut] = []
    page = PageParams(limit=200, after=None)
    while True:
        result = await tokens_service.list_tokens(session, CLI_PRINCIPAL, page=page)
        items.extend(result.items)
        if not result.next_cursor:
            return items
        page = PageParams(limit=200, after=(items[-1].created_at, items[-1].id))


@tokens_cli.command("list")
def tokens_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array (for scripts) instead of a table.")
    ] = False,
) -> None:
    """List tokens with their full ids (never their secrets)."""
    tokens = run_in_session(_all_tokens)
    if as_json:
        sys.stdout.write(json.dumps([t.model_dump(mode="json") for t in tokens], indent=2) + "\n")
        return
    # plain columns, one line per token, as wide as its values (the terminal wraps a long
    # line): never an id cut to `a2cda879-…` at 80 columns or in a pipe
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "name", "prefix", "scopes", "expires", "revoked", "last used"):
        table.add_column(column, no_wrap=True)
    for t in tokens:
        table.add_row(
            str(t.id),
            Text(t.name),
            t.prefix,
            ", ".join(t.scopes),
            _when(t.expires_at),
            _when(t.revoked_at),
            _when(t.last_used_at),
        )
    Console(width=10_000).print(table)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


@tokens_cli.command("revoke")
def tokens_revoke(
    token_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The token's id, or enough of its start to name one token (`tokens list`).",
        ),
    ],
) -> None:
    """Revoke a token by its id or a unique start of it."""

    async def _revoke(session: AsyncSession) -> uuid.UUID:
        found = await tokens_service.resolve_id(session, id_or_prefix=token_id)
        await tokens_service.revoke(session, CLI_PRINCIPAL, token_id=found)
        return found

    revoked = run_in_session(_revoke)
    console.print(f"[green]revoked[/green] {revoked}")


def main() -> None:
    cli()
