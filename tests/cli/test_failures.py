"""Every failure a user can cause or fix is one line on stderr saying what to do, with a
non-zero exit; `--debug` (or BRANDCAST_DEBUG=1) shows the traceback instead."""

import socket
import sqlite3

import pytest

from app.core.commands import DatabaseNotReady
from app.core.config import Settings, SettingsError, load_settings
from app.core.migrations import upgrade
from app.tokens import service as tokens_service
from tests.cli.conftest import HEAD, SECRET, brandcast, clean_env
from tests.conftest import PG_URL

# every command that opens the database, with what it needs to get that far
DATABASE_COMMANDS = [
    pytest.param(["tokens", "list"], id="tokens-list"),
    pytest.param(["tokens", "create", "--name", "ci", "--scope", "admin"], id="tokens-create"),
    pytest.param(["tokens", "revoke", "0123abcd"], id="tokens-revoke"),
    pytest.param(["employees", "import", "people.csv"], id="employees-import"),
    pytest.param(["publish-due"], id="publish-due"),
    pytest.param(["dispatch-events"], id="dispatch-events"),
    pytest.param(["emit-due-reminders"], id="emit-due-reminders"),
    pytest.param(["serve", "--skip-migrate", "--port", "1"], id="serve-skip-migrate"),
]


def one_line(done) -> str:
    """The single stderr line of a failed run (and nothing that looks like a traceback); `done`
    is a finished process or a result of Typer's runner."""
    code = getattr(done, "returncode", getattr(done, "exit_code", None))
    assert code not in (0, None), done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("brandcast: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NO_DATABASE = (
    "brandcast: there is no database at {}: run `brandcast migrate` to create it, or point "
    "BRANDCAST_DATABASE_URL at yours"
)


def test_no_database_yet_says_migrate_and_creates_no_file(tmp_path):
    done = brandcast("tokens", "list", cwd=tmp_path)
    assert one_line(done) == NO_DATABASE.format(tmp_path / "brandcast.db")
    assert done.returncode == 1
    assert list(tmp_path.iterdir()) == []  # no empty brandcast.db left behind


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_no_command_creates_an_empty_database(command, invoke, tmp_path):
    (tmp_path / "people.csv").write_text("external_id\nE1\n")
    result = invoke(*command, cwd=tmp_path)
    assert one_line(result) == NO_DATABASE.format(tmp_path / "brandcast.db")
    assert result.exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]


def test_an_empty_database_file_is_not_migrated(invoke, tmp_path):
    sqlite3.connect(tmp_path / "brandcast.db").close()
    done = invoke("tokens", "list", cwd=tmp_path)
    assert one_line(done) == (
        f"brandcast: the database sqlite:///{tmp_path / 'brandcast.db'} is not migrated "
        f"(newest: {HEAD}): run `brandcast migrate`"
    )


def test_a_database_behind_this_version_says_migrate(invoke, tmp_path):
    path = tmp_path / "old.db"
    upgrade(f"sqlite:///{path}", revision="0012_standard_webhooks")
    url = f"sqlite:///{path}"
    assert one_line(invoke("tokens", "list", BRANDCAST_DATABASE_URL=url)) == (
        f"brandcast: the database sqlite:///{path} is at 0012_standard_webhooks, behind "
        f"{HEAD}: run `brandcast migrate`"
    )
    assert invoke("migrate", BRANDCAST_DATABASE_URL=url).exit_code == 0
    assert invoke("tokens", "list", BRANDCAST_DATABASE_URL=url).exit_code == 0


def test_a_database_from_a_newer_version_says_so(invoke, migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    done = invoke("publish-due", BRANDCAST_DATABASE_URL=f"sqlite:///{migrated}")
    assert one_line(done) == (
        f"brandcast: the database sqlite:///{migrated} is at 0099_from_the_future, which this "
        f"version does not know (newest here: {HEAD}): use the brandcast version "
        "that migrated it"
    )


def test_a_sqlite_folder_that_does_not_exist(invoke, tmp_path):
    url = f"sqlite:///{tmp_path}/nowhere/brandcast.db"
    for command in (["migrate"], ["serve"]):
        assert one_line(invoke(*command, BRANDCAST_DATABASE_URL=url)) == (
            f"brandcast: cannot create the SQLite database {tmp_path}/nowhere/brandcast.db: the "
            f"folder {tmp_path}/nowhere does not exist"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_file_that_cannot_be_opened(monkeypatch, tmp_path):
    # as SQLAlchemy raises it for a file without read or write permission (asserted on the
    # exception: aiosqlite's worker thread would report a real one after the test's loop ends)
    import sqlite3 as dbapi

    from sqlalchemy.exc import OperationalError

    from app.core import commands
    from app.core.config import get_settings

    monkeypatch.setenv("BRANDCAST_DATABASE_URL", f"sqlite:///{tmp_path}/brandcast.db")
    get_settings.cache_clear()
    try:
        error = OperationalError(
            "connect", {}, dbapi.OperationalError("unable to open database file")
        )
        assert commands.explain(error) == (
            1,
            f"cannot open the SQLite database {tmp_path}/brandcast.db: does its folder exist, "
            "and may it be written?",
        )
    finally:
        get_settings.cache_clear()


def test_postgresql_not_reachable_names_host_and_port_not_the_password(invoke, tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql://brandcast:{SECRET}@127.0.0.1:{port}/db"
    expected = (
        f"brandcast: cannot reach the database at 127.0.0.1:{port} (connection refused): is it "
        "running, and is BRANDCAST_DATABASE_URL right?"
    )
    done = brandcast("migrate", cwd=tmp_path, env=clean_env(BRANDCAST_DATABASE_URL=url))
    assert one_line(done) == expected
    assert SECRET not in done.stdout + done.stderr
    for command in (["tokens", "list"], ["serve", "--port", "1"], ["dispatch-events"]):
        result = invoke(*command, BRANDCAST_DATABASE_URL=url)
        assert one_line(result) == expected
        assert SECRET not in result.output


def test_an_unknown_database_host(invoke):
    url = f"postgresql://u:{SECRET}@db.invalid:6543/brandcast"
    done = invoke("tokens", "list", BRANDCAST_DATABASE_URL=url)
    assert one_line(done) == (
        "brandcast: cannot reach the database at db.invalid:6543 (unknown host): is it running, "
        "and is BRANDCAST_DATABASE_URL right?"
    )


@pytest.mark.skipif(not PG_URL, reason="needs BRANDCAST_TEST_DATABASE_URL")
async def test_postgresql_refusals_and_an_unmigrated_database(empty_database, tmp_path):
    from sqlalchemy.engine import make_url

    server = make_url(empty_database)
    where = f"{server.host}:{server.port or 5432}"
    no_db = server.set(database="brandcast_no_such_database").render_as_string(False)
    done = brandcast("tokens", "list", cwd=tmp_path, env=clean_env(BRANDCAST_DATABASE_URL=no_db))
    assert one_line(done) == (
        f"brandcast: there is no database 'brandcast_no_such_database' at {where}: create it, "
        "or fix BRANDCAST_DATABASE_URL"
    )
    env = clean_env(BRANDCAST_DATABASE_URL=empty_database)
    done = brandcast("tokens", "list", cwd=tmp_path, env=env)
    assert one_line(done).endswith(f"is not migrated (newest: {HEAD}): run `brandcast migrate`")


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"BRANDCAST_JWT_ALGORITHMS": "HS256", "BRANDCAST_JWT_SECRET": "s3cret-but-short"},
            "brandcast: BRANDCAST_JWT_SECRET must be at least 32 bytes long",
        ),
        (
            {"BRANDCAST_DATABASE_URL": f"postgresql://u:{SECRET}@db:99999/x"},
            "brandcast: BRANDCAST_DATABASE_URL: the port must be between 1 and 65535; expected "
            "sqlite:///path/to/file.db or postgresql://user:password@host:5432/name",
        ),
        (
            {"BRANDCAST_DATABASE_URL": f"{SECRET}@nowhere"},
            "brandcast: BRANDCAST_DATABASE_URL: not a database URL; expected "
            "sqlite:///path/to/file.db or postgresql://user:password@host:5432/name",
        ),
        (
            {"BRANDCAST_DATABASE_URL": f"mysql://root:{SECRET}@db/x"},
            "brandcast: BRANDCAST_DATABASE_URL: 'mysql' is not supported; expected "
            "sqlite:///path/to/file.db or postgresql://user:password@host:5432/name",
        ),
        (
            {"BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE": "lots", "BRANDCAST_JWT_SECRET": SECRET},
            "brandcast: BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE: Input should be a valid number, "
            "unable to parse string as a number",
        ),
    ],
)
def test_a_bad_setting_names_the_variable_and_never_echoes_a_secret(
    settings, expected, invoke, tmp_path
):
    done = invoke("tokens", "list", cwd=tmp_path, **settings)
    assert one_line(done) == expected
    assert done.exit_code == 2
    for value in (SECRET, "s3cret-but-short"):
        assert value not in done.output
    assert list(tmp_path.iterdir()) == []


def test_a_bad_setting_from_the_real_command(tmp_path):
    env = clean_env(BRANDCAST_DATABASE_URL=f"postgresql://u:{SECRET}@db:99999/x")
    done = brandcast("migrate", cwd=tmp_path, env=env)
    assert one_line(done).startswith("brandcast: BRANDCAST_DATABASE_URL: the port must be")
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr


def _bad_value(field) -> str | None:
    """A value the field refuses, carrying a marker that must not be echoed."""
    annotation = str(field.annotation)
    if "bool" in annotation:
        return "MARKER-not-a-bool"
    if "int" in annotation or "float" in annotation:
        return "MARKER-not-a-number"
    if "Literal" in annotation:
        return "MARKER-not-a-choice"
    return None


@pytest.mark.parametrize(
    "name", [n for n, f in Settings.model_fields.items() if _bad_value(f) is not None]
)
def test_every_typed_setting_error_names_its_variable_without_the_value(name, monkeypatch):
    monkeypatch.setenv(f"BRANDCAST_{name.upper()}", _bad_value(Settings.model_fields[name]))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"BRANDCAST_{name.upper()}: ")
    assert "MARKER" not in message
    assert "\n" not in message


def test_secret_settings_do_not_show_in_a_repr():
    settings = Settings(
        database_url=f"postgresql://u:{SECRET}@db/x",
        jwt_algorithms="HS256",
        jwt_secret=SECRET,
        redis_url=f"redis://:{SECRET}@cache:6379/0",
    )
    assert SECRET not in repr(settings) and SECRET not in str(settings)


# --- --debug, and what is not a user's to fix -----------------------------------------------


def test_debug_shows_the_traceback(invoke, tmp_path):
    sqlite3.connect(tmp_path / "brandcast.db").close()  # not migrated
    done = brandcast("tokens", "list", cwd=tmp_path, env=clean_env(BRANDCAST_DEBUG="1"))
    assert done.returncode != 0
    assert "Traceback" in done.stderr
    assert "DatabaseNotReady" in done.stderr
    assert len(done.stderr.splitlines()) > 10
    # the flag does the same; without either, one line
    result = invoke("--debug", "tokens", "list", cwd=tmp_path)
    assert isinstance(result.exception, DatabaseNotReady)
    assert result.stderr == ""
    assert isinstance(invoke("tokens", "list", BRANDCAST_DEBUG="1").exception, DatabaseNotReady)
    assert "is not migrated" in one_line(invoke("tokens", "list", BRANDCAST_DEBUG="0"))


def test_an_unexpected_error_is_one_line_pointing_at_debug(invoke, migrated, monkeypatch):
    async def _broken(*_args, **_kwargs):
        raise RuntimeError("the disk caught fire\nsecond line")

    monkeypatch.setattr(tokens_service, "list_tokens", _broken)
    result = invoke("tokens", "list", BRANDCAST_DATABASE_URL=f"sqlite:///{migrated}")
    assert result.exit_code == 1
    assert result.stderr == (
        "brandcast: unexpected error: RuntimeError: the disk caught fire; run again with --debug "
        "(or BRANDCAST_DEBUG=1) for the traceback\n"
    )
    assert result.stdout == ""


def test_a_message_quoting_a_secret_is_redacted(invoke, migrated, monkeypatch):
    async def _leaky(*_args, **_kwargs):
        raise RuntimeError(f"cannot use key {SECRET}")

    monkeypatch.setattr(tokens_service, "list_tokens", _leaky)
    result = invoke(
        "tokens",
        "list",
        BRANDCAST_DATABASE_URL=f"sqlite:///{migrated}",
        BRANDCAST_JWT_ALGORITHMS="HS256",
        BRANDCAST_JWT_SECRET=SECRET,
    )
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert "cannot use key ***" in result.stderr


def test_usage_errors_stay_the_framework_s(invoke, tmp_path):
    done = invoke("tokens", "create", "--name", "x", "--scope", "everything", cwd=tmp_path)
    assert done.exit_code == 2
    assert "Invalid value" in done.stderr
    assert "Traceback" not in done.stderr
