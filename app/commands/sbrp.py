"""``compact sbrp``: the school bus routing benchmark (Park, Tae & Kim 2012)."""

import typer

app = typer.Typer(help="Solve and check school bus routing benchmark instances.", no_args_is_help=True)
