"""``compact facilities``: capacity, utilization and matching charter needs to buildings."""

import typer

app = typer.Typer(help="Building capacity and utilization; match charter needs to buildings.", no_args_is_help=True)
