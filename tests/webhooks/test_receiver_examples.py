"""The receivers the docs show (docs/examples: Python and Node.js, each on its stock Standard
Webhooks library) run as real servers: they accept Brandcast's deliveries, de-duplicate a
redelivery on `webhook-id`, and refuse deliveries signed with another secret."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.webhooks.helpers import deliveries

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command: list[str], port: int, secret: str, cwd: Path) -> Iterator[list[str]]:
    """Run a receiver until the block ends; yields its output lines (filled at the end)."""
    env = {
        **os.environ,
        "BRANDCAST_WEBHOOK_SECRET": secret,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"receiver exited: {process.stdout.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("receiver did not start in 30 s") from None
                time.sleep(0.1)
        yield lines
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
        lines.extend(out.splitlines())


@pytest.fixture(scope="session")
def node_receiver(tmp_path_factory) -> Path:
    """The Node example beside the stock library (`npm install standardwebhooks`)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("needs Node.js and npm")
    where = tmp_path_factory.mktemp("node-receiver")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "standardwebhooks@^1.1"],
        cwd=where,
        check=True,
        timeout=300,
        capture_output=True,
    )
    shutil.copy(EXAMPLES / "webhook-receiver.mjs", where)
    return where


@pytest.fixture(params=["python", "node"])
def receiver_command(request) -> tuple[list[str], Path, str]:
    """(command, working directory, path) of one documented receiver."""
    if request.param == "node":
        where = request.getfixturevalue("node_receiver")
        return ["node", "webhook-receiver.mjs"], where, "/"
    command = [sys.executable, "-m", "uvicorn", "webhook_receiver:app", "--port"]
    return [*command, "{port}", "--log-level", "warning"], EXAMPLES, "/hooks/brandcast"


async def test_documented_receivers_verify_real_deliveries(
    admin, db, subscribe, dispatch, receiver_command
):
    command, cwd, path = receiver_command
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    hook = await subscribe(url, ["message.archived"])
    stranger = await subscribe(url, ["message.archived"])  # another secret: refused
    command = [part.replace("{port}", str(port)) for part in command]

    with serve(command, port, hook["secret"], cwd) as output:
        r = await admin.post(f"/v1/webhooks/{hook['id']}/ping")
        assert r.status_code == 202, r.text
        first = r.json()
        assert (await admin.post(f"/v1/webhooks/{stranger['id']}/ping")).status_code == 202
        assert await dispatch() == 2
        r = await admin.post(f"/v1/webhooks/{hook['id']}/deliveries/{first['id']}/redeliver")
        assert r.status_code == 202, r.text
        assert await dispatch() == 1

    ours = await deliveries(db, hook["id"])
    assert [(d.status, d.response_status) for d in ours] == [("delivered", 204)] * 2
    (theirs,) = await deliveries(db, stranger["id"])
    assert (theirs.status, theirs.response_status, theirs.error) == ("pending", 401, "HTTP 401")
    # handled once although delivered twice: the receiver de-duplicated on webhook-id
    handled = [line for line in output if "ping" in line]
    assert len(handled) == 1, output
