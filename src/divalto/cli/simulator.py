"""``divalto simulator``: serve it, print its OpenAPI document, run the demo."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from divalto.cli.settings_file import SettingsFileError, load_simulator_settings
from divalto.simulator import server
from divalto.simulator.demo import run_demo
from divalto.simulator.openapi import (
    DEFAULT_ENV,
    DEFAULT_SITE,
    ON_PREMISES_PATH,
    openapi_document,
)
from divalto.simulator.settings import SimulatorSettings

DEFAULT_PORT = 8000

app = typer.Typer(
    help="Run the Divalto infinity simulator.",
    no_args_is_help=True,
)

SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="A .toml or .json file of simulator settings.",
        dir_okay=False,
    ),
]


@app.command()
def serve(
    settings: SettingsOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one."),
    ] = DEFAULT_PORT,
    seed_data: Annotated[
        Path | None,
        typer.Option(help="A JSON seed file loaded after the built-in data."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the fault injection's draws.")
    ] = None,
    token_ttl: Annotated[
        int | None, typer.Option(min=1, help="Token lifetime in seconds.")
    ] = None,
) -> None:
    """Serve the simulator in the foreground until Ctrl+C or SIGTERM."""
    overrides: dict[str, Any] = {
        "seed_data": str(seed_data) if seed_data is not None else None,
        "seed": seed,
        "token_ttl_seconds": token_ttl,
    }
    loaded = _settings_or_exit(settings, overrides)
    port = _listening_port_or_exit(host, port)

    console = Console(highlight=False)
    for label, address in addresses(loaded, host, port):
        console.print(
            f"[bold]{label + ':':<22}[/bold]{escape(address)}", soft_wrap=True
        )
    with _sigterm_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
        server.serve(loaded, host, port)
    console.print("Simulator stopped.")


@app.command()
def openapi(
    settings: SettingsOption = None,
    url: Annotated[
        str, typer.Option(help="The simulator's root URL, written as the server.")
    ] = f"http://127.0.0.1:{DEFAULT_PORT}",
) -> None:
    """Print the simulator's OpenAPI 3.1 document as JSON."""
    loaded = _settings_or_exit(settings, {})
    document = openapi_document(loaded, root_url=url)
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@app.command()
def demo() -> None:
    """Start a simulator here and take an order through to its invoice."""
    raise typer.Exit(run_demo(Console()))


def addresses(
    settings: SimulatorSettings, host: str, port: int
) -> list[tuple[str, str]]:
    """Where a simulator with these settings answers, as (label, URL) pairs."""
    root = root_url(host, port)
    site = settings.sites[0] if settings.sites else DEFAULT_SITE
    env = settings.environments[0] if settings.environments else DEFAULT_ENV
    return [
        ("Cloud API base", f"{root}/{site}/{env}/api/v1/"),
        ("On-premises API base", f"{root}{ON_PREMISES_PATH}/"),
        ("Control", f"{root}/_simulator/"),
        ("OpenAPI", f"{root}/openapi.json"),
        ("Accounts", ", ".join(account.user for account in settings.accounts)),
    ]


def root_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _settings_or_exit(
    path: Path | None, overrides: dict[str, Any]
) -> SimulatorSettings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return load_simulator_settings(path, given)
    except SettingsFileError as exc:
        _fail(str(exc), code=2)


def _listening_port_or_exit(host: str, port: int) -> int:
    """Check that ``host:port`` can be listened on; resolve port 0 to a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            bound: int = probe.getsockname()[1]
            return bound
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", code=1)


def _fail(message: str, *, code: int) -> NoReturn:
    console = Console(stderr=True, highlight=False)
    console.print(f"Error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM stop the server as Ctrl+C does, with a clean exit."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
