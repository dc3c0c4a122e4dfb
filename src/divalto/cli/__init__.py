"""The ``divalto`` command.

Each group of commands lives in its own module and is added to :data:`app` here;
``divalto --help`` lists them. Errors that a user can fix (a bad settings file, a
port in use) end with one line on standard error and exit code 2 or 1, never with a
traceback.
"""

from __future__ import annotations

from typing import Annotated

import typer

from divalto import __version__
from divalto.cli.flows import app as flows_app
from divalto.cli.simulator import app as simulator_app
from divalto.cli.sync import sync
from divalto.cli.worker import worker

app = typer.Typer(
    name="divalto",
    help="Divalto infinity SDK, connector and simulator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(simulator_app, name="simulator")
app.add_typer(flows_app, name="flows")
app.command()(worker)
app.command()(sync)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"divalto-sdk {__version__}")
        raise typer.Exit()


@app.callback()
def divalto(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Divalto infinity SDK, connector and simulator."""


def main() -> None:
    """Run the ``divalto`` command (the console script's entry point)."""
    app()


__all__ = ["app", "main"]
