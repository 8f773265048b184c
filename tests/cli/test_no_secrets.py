"""No secret, token, token hash or password appears in what the CLI prints or the server logs.

Known values are put in the settings (the JWT secret, a database password) or minted (an API
token, whose hash is what the database holds); then the CLI runs (real processes and Typer's
runner) and the server serves (its own logging, at DEBUG, so SQLAlchemy's statement log is on
too) through normal and failing paths, and every line they wrote is searched for them.
"""

import hashlib
import io
import json
import logging
import re
import sqlite3
import sys

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from app.core.config import Settings
from app.core.observability import configure_logging
from app.main import create_app
from app.tokens import service as tokens_service
from tests.cli.conftest import brandcast, clean_env

JWT_SECRET = "jwt-9f2c7e41b8d35a60c1e7f4b2a9d8c3e5f6a7b1c2"
DB_PASSWORD = "dbpw-5e8a1c9f3b7d2e6a4c0f"
SHORT_SECRET = "tooshort-7d2e6a4c"


def token_needles(token: str) -> list[str]:
    """The token, its secret part and the hash the database keeps of it."""
    secret = token[12:]
    return [token, secret, hashlib.sha256(secret.encode()).hexdigest()]


def assert_clean(output: str, needles: list[str], where: str) -> None:
    for needle in needles:
        assert needle not in output, f"{where} shows a secret ({needle[:6]}…):\n{output}"


def test_the_cli_never_prints_a_secret(tmp_path, migrated, invoke):
    url = f"sqlite:///{migrated}"
    settings = {
        "BRANDCAST_DATABASE_URL": url,
        "BRANDCAST_JWT_ALGORITHMS": "HS256",
        "BRANDCAST_JWT_SECRET": JWT_SECRET,
    }
    created = invoke("tokens", "create", "--name", "ci", "--scope", "admin", **settings)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    needles = [JWT_SECRET, DB_PASSWORD, SHORT_SECRET, *token_needles(token)]
    # the token is printed once, as the last line of `tokens create`, and nowhere else
    assert_clean(created.stderr + created.stdout.replace(token, ""), needles, "tokens create")

    csv = tmp_path / "people.csv"
    csv.write_text("external_id,email\nE1,e1@example.com\nE2,e2@example.com\n")
    unreachable = f"postgresql://brandcast:{DB_PASSWORD}@127.0.0.1:9/brandcast"
    runs = [
        (("tokens", "list"), settings),
        (("tokens", "list", "--json"), settings),
        (("tokens", "revoke", "ffff"), settings),  # no such token
        (("dev-token", "--employee", "E1", "--role", "comms_admin"), settings),
        (("employees", "import", str(csv)), settings),
        (("employees", "import", str(csv), "--full-sync", "--dry-run"), settings),
        (("publish-due",), settings),
        (("emit-due-reminders",), settings),
        (("dispatch-events",), settings),
        (("tokens", "list"), {**settings, "BRANDCAST_DATABASE_URL": unreachable}),
        (("migrate",), {**settings, "BRANDCAST_DATABASE_URL": unreachable}),
        (("serve", "--port", "1"), {**settings, "BRANDCAST_DATABASE_URL": unreachable}),
        (("tokens", "list"), {**settings, "BRANDCAST_DATABASE_URL": unreachable + ":x"}),
        (("tokens", "list"), {**settings, "BRANDCAST_JWT_SECRET": SHORT_SECRET}),
        (("tokens", "list"), {**settings, "BRANDCAST_JWT_PUBLIC_KEY": "k.pem"}),
        (("openapi",), settings),
    ]
    for args, env in runs:
        result = invoke(*args, **env)
        assert_clean(result.output, needles, " ".join(args))
        if args[0] == "dev-token":
            assert result.exit_code == 0, result.output
    # the real command, with --debug: the traceback shows no locals and no SQL parameters
    for args, env in [
        (("--debug", "tokens", "list"), {**settings, "BRANDCAST_DATABASE_URL": unreachable}),
        (("--debug", "tokens", "create", "--name", "x", "--scope", "admin"), settings),
    ]:
        done = brandcast(*args, cwd=tmp_path, env=clean_env(**env))
        assert_clean(done.stderr, needles, " ".join(args))
        if "create" in args:
            new = done.stdout.strip().splitlines()[-1]
            assert_clean(done.stderr, token_needles(new), "tokens create --debug")


def test_a_failing_statement_shows_no_parameters(tmp_path, migrated):
    """A database error's text, as a --debug traceback shows it: the SQL, not its values."""
    with sqlite3.connect(migrated) as conn:  # the token's INSERT now fails, hash bound to it
        conn.execute("DROP TABLE api_tokens")
        conn.execute("CREATE TABLE api_tokens (id CHAR(32) PRIMARY KEY)")
    env = clean_env(BRANDCAST_DATABASE_URL=f"sqlite:///{migrated}", BRANDCAST_DEBUG="1")
    done = brandcast("tokens", "create", "--name", "x", "--scope", "admin", cwd=tmp_path, env=env)
    assert done.returncode != 0
    assert "INSERT INTO api_tokens" in done.stderr
    assert "[SQL parameters hidden due to hide_parameters=True]" in done.stderr
    assert not re.search(r"[0-9a-f]{64}", done.stderr)  # no sha256 hash, of the secret or other
    assert done.stdout == ""


@pytest.fixture
def server_log(monkeypatch):
    """Everything the app logs, set up as the service sets it up, at DEBUG."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {n: logging.getLogger(n).level for n in ("sqlalchemy", "aiosqlite", "asyncpg")}
    configure_logging("DEBUG")
    try:
        yield stream
    finally:
        root.handlers[:], root.level = handlers, level
        for name, before in quiet.items():
            logging.getLogger(name).setLevel(before)


async def test_the_server_never_logs_a_secret(settings, server_log, monkeypatch):
    custom = Settings(**{**settings.model_dump(), "jwt_secret": JWT_SECRET, "run_scheduler": False})
    app = create_app(custom)
    async with LifespanManager(app):
        async with app.state.db.session_scope() as session:
            from app.core.principal import Principal, Scope
            from app.tokens.schemas import TokenCreate

            minted = await tokens_service.mint(
                session, Principal.system("tests"), data=TokenCreate(name="t", scopes=[Scope.ADMIN])
            )
        token = minted.token
        needles = [JWT_SECRET, *token_needles(token)]
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            good = {"Authorization": f"Bearer {token}"}
            wrong = {"Authorization": f"Bearer {token[:12]}{'x' * (len(token) - 12)}"}
            assert (await client.get("/v1/tokens", headers=good)).status_code == 200
            assert (await client.get("/v1/tokens", headers=wrong)).status_code == 401
            assert (await client.get(f"/v1/tokens?token={token}", headers=wrong)).status_code in (
                401,
                422,
            )
            r = await client.post(
                "/v1/employees/bulk", headers=good, json={"employees": [{"external_id": token}]}
            )
            assert r.status_code == 200
            r = await client.post(
                "/v1/employees/bulk",
                headers=good,
                json={"employees": [{"external_id": "x", "email": token}]},
            )
            assert r.status_code == 422
            r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}.{token}.x"})
            assert r.status_code == 401

            # statements that fail with the token hash bound to them: logged (a 503's class
            # on SQLite, else a 500's traceback with its SQL), never with the parameter
            for statement, statuses in (
                ("SELECT * FROM no_such_table WHERE h = :h", {500, 503}),
                ("SELECT :h, :missing", {500}),
            ):

                async def _failing(session, _principal, *, page, statement=statement):
                    await session.execute(text(statement), {"h": token_needles(token)[2]})

                monkeypatch.setattr(tokens_service, "list_tokens", _failing)
                r = await client.get("/v1/tokens", headers=good)
                assert r.status_code in statuses
                assert_clean(r.text, needles, "an error's body")
    # the test's own client logs its requests (a token in a query string, as sent): not the
    # server's lines
    lines = [json.loads(line) for line in server_log.getvalue().splitlines() if line.strip()]
    lines = [e for e in lines if e["logger"] != "httpx"]
    log = "\n".join(json.dumps(e) for e in lines)
    assert any(e["logger"] == "brandcast.access" for e in lines)
    assert any(e["logger"] == "brandcast.errors" and "exception" in e for e in lines)
    # the 500s' tracebacks show the statement, not its values
    assert "SELECT ?, ?" in log or "SELECT $1, $2" in log
    assert "[SQL parameters hidden due to hide_parameters=True]" in log
    assert logging.getLogger("brandcast").isEnabledFor(logging.DEBUG)
    assert not any(e["logger"].startswith(("sqlalchemy", "aiosqlite")) for e in lines)
    assert_clean(log, needles, "the server's log")
