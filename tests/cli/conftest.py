"""The `brandcast` command as a user meets it: a real process in an empty folder (or Typer's
runner where a test needs to reach inside), against SQLite files or the test PostgreSQL."""

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import get_settings
from app.core.migrations import upgrade

BRANDCAST = str(Path(sys.executable).with_name("brandcast"))  # the installed command
SECRET = "known-jwt-secret-3f9c2a7d1e8b4c6a9d0f2e1b7a5c3d9e"  # in the settings of these runs


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment with no BRANDCAST_* setting but the ones given (and no debug)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDCAST_")}
    return {**env, "COLUMNS": "80", **overrides}


def brandcast(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BRANDCAST, *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def migrated(migrated_template: Path, tmp_path: Path) -> Path:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "brandcast.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
def invoke(monkeypatch) -> Iterator:
    """Run `brandcast ARGS` in this process (Typer's runner) with these settings."""

    def _invoke(
        *args: str, input: str | None = None, cwd: Path | None = None, **settings: str
    ) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        for name in [k for k in os.environ if k.startswith("BRANDCAST_")]:
            monkeypatch.delenv(name)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            return CliRunner().invoke(cli, list(args), input=input)
        finally:
            get_settings.cache_clear()
            # `serve` points logging at the runner's stderr, which is closed afterwards
            root.handlers[:], root.level = handlers, level

    yield _invoke
    get_settings.cache_clear()


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from app.core.migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


# the newest migration, as the CLI names it (so these tests need no edit per migration)
HEAD = _head_revision()
