"""``compact zones``: shared enrollment zones, the seat guarantee and a unified lottery."""

import typer

app = typer.Typer(help="Shared enrollment zones: coverage, the lottery and zone design.", no_args_is_help=True)
