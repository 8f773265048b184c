"""`brandcast serve` says on start which version runs on which database (password hidden),
its migration state, where it listens, where the docs are and how employees sign in."""

import json
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.cli.conftest import BRANDCAST, HEAD, SECRET, clean_env
from tests.conftest import PG_URL

DEV_SECRET = "walkthrough-secret-that-is-32-bytes-or-more"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _forward(stream, into: "queue.Queue[str]") -> None:
    for line in stream:
        into.put(line)


def start_lines(*args: str, cwd: Path, env: dict[str, str], timeout: float = 90) -> list[dict]:
    """The JSON log lines `brandcast serve` writes until uvicorn says it runs; then stop it."""
    process = subprocess.Popen(
        [BRANDCAST, "serve", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A reader thread, not select() on the pipe: select() misses lines already in the
    # buffered reader when uvicorn's line arrives in the same chunk as the one before.
    received: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_forward, args=(process.stderr, received), daemon=True)
    reader.start()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = received.get(timeout=1)
            except queue.Empty:
                if process.poll() is not None and not reader.is_alive():
                    break
                continue
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            raise AssertionError("serve did not start:\n" + "".join(lines))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    while not received.empty():
        lines.append(received.get())
    text = "".join(lines)
    assert "Traceback" not in text, text
    return [json.loads(line) for line in lines if line.strip()]


def by_logger(entries: list[dict], logger: str) -> list[dict]:
    return [e for e in entries if e["logger"] == logger]


def test_serve_logs_what_an_operator_needs_first(tmp_path):
    port = free_port()
    env = clean_env(BRANDCAST_JWT_ALGORITHMS="HS256", BRANDCAST_JWT_SECRET=DEV_SECRET)
    entries = start_lines("--port", str(port), cwd=tmp_path, env=env)
    serve = by_logger(entries, "brandcast.serve")
    messages = [e["message"] for e in serve]
    database = f"sqlite:///{tmp_path / 'brandcast.db'}"
    assert messages[0].startswith("brandcast ") and "(API 1.0.0)" in messages[0]
    assert messages[1:5] == [
        f"database {database}: at {HEAD} (newest)",
        f"listening on http://127.0.0.1:{port} (1 worker(s))",
        f"API docs at http://127.0.0.1:{port}/docs and http://127.0.0.1:{port}/redoc",
        "employee SSO: HS256 with a shared secret (BRANDCAST_JWT_SECRET)",
    ]
    assert serve[1]["migration"] == {"current": HEAD, "head": HEAD}
    assert serve[2]["listen"] == f"http://127.0.0.1:{port}"
    [warning] = [e for e in serve if e["level"] == "warning"]
    assert "development secret" in warning["message"]
    assert DEV_SECRET not in json.dumps(entries)


def test_a_random_secret_gets_no_warning_and_public_keys_are_described(tmp_path):
    env = clean_env(
        BRANDCAST_JWT_ALGORITHMS="HS256",
        BRANDCAST_JWT_SECRET=SECRET.replace("known-jwt-secret-", "Zq8#"),
    )
    entries = start_lines("--port", str(free_port()), cwd=tmp_path, env=env)
    assert not [e for e in by_logger(entries, "brandcast.serve") if e["level"] == "warning"]

    env = clean_env(BRANDCAST_JWT_ISSUER="https://sso.example.com/tenant")
    entries = start_lines("--port", str(free_port()), "--skip-migrate", cwd=tmp_path, env=env)
    sso = [e["message"] for e in by_logger(entries, "brandcast.serve") if "SSO" in e["message"]]
    assert sso == [
        "employee SSO: RS256,ES256 with the issuer's discovery "
        "(https://sso.example.com/tenant/.well-known/openid-configuration)"
    ]
    # --skip-migrate ran nothing of Alembic's upgrade
    assert not [e for e in entries if "Running upgrade" in e["message"]]


@pytest.mark.skipif(not PG_URL, reason="needs BRANDCAST_TEST_DATABASE_URL")
async def test_on_postgresql_the_password_is_hidden(database_url, tmp_path):
    # the test server trusts local connections, so any password gets in: a known one here
    url = make_url(database_url).set(password=SECRET)
    env = clean_env(BRANDCAST_DATABASE_URL=url.render_as_string(hide_password=False))
    entries = start_lines("--port", str(free_port()), "--host", "0.0.0.0", cwd=tmp_path, env=env)
    text = json.dumps(entries)
    assert SECRET not in text
    shown = url.render_as_string(hide_password=True)
    assert f"database {shown}: at {HEAD} (newest)" in text
    assert "API docs at http://localhost:" in text
    assert "employee SSO: off" in text


def test_serve_refuses_an_unmigrated_database_with_skip_migrate(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "brandcast.db").close()
    done = subprocess.run(
        [BRANDCAST, "serve", "--skip-migrate", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        f"is not migrated (newest: {HEAD}): run `brandcast migrate`"
    )
    assert len(done.stderr.strip().splitlines()) == 1
