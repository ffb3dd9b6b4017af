"""The ``compact`` command line: thin commands over the libraries, with progress on stderr."""

from __future__ import annotations

from pathlib import Path

import typer

from app.commands import bells, facilities, sbrp, zones

app = typer.Typer(
    help="Compact planner: maps and optimized answers for a city's district, charter and Catholic schools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(facilities.app, name="facilities")
app.add_typer(bells.app, name="bells")
app.add_typer(zones.app, name="zones")
app.add_typer(sbrp.app, name="sbrp")


@app.command()
def validate(city_dir: Path = typer.Argument(..., help="A city folder with a city.toml.")) -> None:
    """Load a city folder, and print its summary or every problem found in it."""
    from facilities import ValidationError, read_city

    try:
        city = read_city(city_dir)
    except ValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(city.summary())


def main() -> None:
    """Entry point of the ``compact`` console script."""
    app()


if __name__ == "__main__":
    main()
