"""Browser tests: a live `brandcast serve` on a free port and Debian's headless Chromium.

They run when BRANDCAST_BROWSER_TESTS=1 (`.ci/docs-browser` installs Chromium and Playwright,
then runs them; `.ci/run` calls it), and then fail rather than skip when Chromium cannot start.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BROWSER_TESTS = os.environ.get("BRANDCAST_BROWSER_TESTS") == "1"
BRANDCAST = Path(sys.executable).with_name("brandcast")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BROWSER_TESTS:
        return
    skip = pytest.mark.skip(
        reason="browser tests run with BRANDCAST_BROWSER_TESTS=1 (.ci/docs-browser)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("BRANDCAST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        raise AssertionError(
            f"no Chromium at {path}: apt-get install chromium (.ci/docs-browser does)"
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`brandcast serve` on a free loopback port, on a fresh SQLite file; its base URL."""
    folder = tmp_path_factory.mktemp("service")
    port = _free_port()
    env = {
        **os.environ,
        "BRANDCAST_DATABASE_URL": f"sqlite:///{folder / 'brandcast.db'}",
        "BRANDCAST_RUN_SCHEDULER": "false",
        "BRANDCAST_LOG_LEVEL": "WARNING",
    }
    log_path = folder / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BRANDCAST), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the service exited on start:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"the service did not answer in 30 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
