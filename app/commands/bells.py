"""``compact bells``: bell-time alignment scenarios and what they save."""

import typer

app = typer.Typer(help="Compare bell-time scenarios: buses, miles, ride times and dollars.", no_args_is_help=True)
