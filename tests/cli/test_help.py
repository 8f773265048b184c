"""`--help` of every command reads cleanly: no `<bool>` type on flags, every option and
argument explained, scope names never cut mid-word."""

import re

import pytest
import typer.main

from app.cli import ROLES, SCOPES, cli

ROOT = typer.main.get_command(cli)


def commands(group=ROOT, path=()):
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


ALL = [pytest.param(path, id=" ".join(path) or "brandcast") for path, _ in commands()]


@pytest.mark.parametrize("path", ALL)
def test_help_has_no_bool_metavar_and_no_cut_words(path, invoke, monkeypatch):
    for columns in ("80", "120"):
        monkeypatch.setenv("COLUMNS", columns)
        result = invoke(*path, "--help")
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout
        assert not re.search(r"\w…", result.stdout), result.stdout  # nothing ellipsized


@pytest.mark.parametrize("path", ALL)
def test_every_option_and_argument_is_explained(path):
    command = dict(commands())[path]
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), f"{' '.join(path)}: {param.name}"
    assert (command.help or "").strip()


def test_scope_and_role_names_are_whole_at_80_columns(invoke, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    created = invoke("tokens", "create", "--help").stdout
    for scope in SCOPES:
        assert re.search(rf"(?<![\w:]){re.escape(scope)}(?![\w:])", created), scope
    assert "SCOPE" in created and "list[" not in created
    dev = invoke("dev-token", "--help").stdout
    for role in ROLES:
        assert role in dev


def test_the_debug_flag_is_global(invoke):
    assert "--debug" in invoke("--help").stdout
    assert "BRANDCAST_DEBUG" in invoke("--help").stdout
