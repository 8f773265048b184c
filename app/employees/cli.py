"""`brandcast employees …` commands."""

import typer

employees_cli = typer.Typer(help="The employee directory.", no_args_is_help=True)
