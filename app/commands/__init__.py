"""One typer sub-app per capability, mounted by :mod:`app.cli`."""
