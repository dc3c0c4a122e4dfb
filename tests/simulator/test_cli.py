"""The ``divalto simulator`` commands: help, settings files, openapi, serve."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from divalto import __version__
from divalto.cli import app
from divalto.simulator import SimulatorSettings
from divalto.simulator.demo import run_demo
from divalto.simulator.tokens import from_ole_date

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def json_problem(text: str) -> str:
    """The standard library's own words for a JSON text it cannot read."""
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    return str(caught.value)


def test_top_level_help_lists_the_simulator_group() -> None:
    """``divalto --help`` lists the command groups, the simulator among them."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "simulator" in result.output
    assert "Run the Divalto infinity simulator." in result.output


def test_simulator_help_lists_serve_openapi_and_demo() -> None:
    """``divalto simulator --help`` names its three commands."""
    result = runner.invoke(app, ["simulator", "--help"])
    assert result.exit_code == 0
    for command in ("serve", "openapi", "demo"):
        assert command in result.output


def test_console_script_runs_as_a_module() -> None:
    """``python -m divalto.cli --version`` prints the package version."""
    completed = subprocess.run(
        [sys.executable, "-m", "divalto.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"divalto-sdk {__version__}\n"


def test_openapi_command_prints_the_document_for_the_given_root() -> None:
    """``divalto simulator openapi`` prints valid JSON whose server is ``--url``."""
    result = runner.invoke(
        app, ["simulator", "openapi", "--url", "http://127.0.0.1:9999/"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["openapi"] == "3.1.0"
    assert document["servers"][1]["url"] == (
        "http://127.0.0.1:9999/DhsDivaltoServiceDivaApiRest/api/v1"
    )


def test_openapi_command_follows_a_toml_settings_file(tmp_path: Path) -> None:
    """A settings file's RecordSql route and actions appear in the document."""
    settings = write(
        tmp_path,
        "tenant.toml",
        'recordsql_route = "Api/Lecture"\n[actions]\njson_service = "MON_JSON"\n',
    )
    result = runner.invoke(app, ["simulator", "openapi", "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "/Api/Lecture" in document["paths"]
    assert "MON_JSON" in document["paths"]["/WebService/Execute"]["post"]["description"]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "ttl.toml",
            'token_ttl_seconds = "soon"\n',
            "token_ttl_seconds: Input should be a valid integer, unable to parse "
            "string as an integer",
        ),
        (
            "typo.toml",
            '[actions]\nxml_servic = "X"\n',
            "actions.xml_servic: Extra inputs are not permitted",
        ),
        (
            "account.json",
            '{"accounts": [{"user": "SHOP"}]}',
            "accounts[0].password: Field required",
        ),
        ("broken.json", '{"seed": 1', json_problem('{"seed": 1')),
        ("list.json", "[1, 2]", "the top level must be a mapping of settings"),
        ("tenant.yaml", "seed: 1\n", "unsupported format '.yaml' (use .toml or .json)"),
    ],
)
def test_bad_settings_file_exits_2_with_one_line_naming_the_problem(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    """A settings file that cannot be used ends with exit 2 and one clear line."""
    path = write(tmp_path, name, text)
    result = runner.invoke(app, ["simulator", "serve", "--settings", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: settings file {path}: {problem}\n"
    assert result.stdout == ""


def test_missing_settings_file_exits_2() -> None:
    """A settings path that does not exist is named, with the system's reason."""
    result = runner.invoke(app, ["simulator", "openapi", "--settings", "nowhere.toml"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: settings file nowhere.toml: No such file or directory\n"
    )


def test_bad_seed_data_exits_2_before_serving(tmp_path: Path) -> None:
    """A seed file naming an unknown table is refused before the server starts."""
    seed = write(tmp_path, "seed.json", '{"dossier": "998", "ARTICLES": []}')
    result = runner.invoke(app, ["simulator", "serve", "--seed-data", str(seed)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: seed data {seed}: unknown seed tables: ARTICLES\n"


def test_port_in_use_exits_1_naming_the_address() -> None:
    """A port another socket listens on is refused with one line, exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["simulator", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``divalto simulator serve`` in a child process, on a free loopback port."""
    port = free_port()
    settings = write(tmp_path, "tenant.json", '{"sites": ["654321"]}')
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "divalto.cli",
            "simulator",
            "serve",
            "--port",
            str(port),
            "--settings",
            str(settings),
            "--token-ttl",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def login_when_up(port: int, deadline: float) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/654321/TEST1/api/v1/Authent/Auth"
    while True:
        try:
            answer: dict[str, object] = httpx.post(
                url, json={"user": "DEMO", "password": "demo"}, timeout=5
            ).json()
            return answer
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_a_login_and_stops_cleanly_on_sigterm(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    """The served simulator answers a login with the TTL asked, then exits 0."""
    process, port = served
    answer = login_when_up(port, time.monotonic() + 30)
    assert answer["error"] == 0
    token = str(answer["access_token"])
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    lifetime = from_ole_date(claims["exp"]) - datetime.now(UTC)
    assert 100 < lifetime.total_seconds() <= 121

    process.terminate()
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    root = f"http://127.0.0.1:{port}"
    assert f"Cloud API base:       {root}/654321/TEST1/api/v1/\n" in stdout
    assert f"On-premises API base: {root}/DhsDivaltoServiceDivaApiRest/api/v1/\n" in (
        stdout
    )
    assert f"Control:              {root}/_simulator/\n" in stdout
    assert stdout.endswith("Simulator stopped.\n")
    assert "Traceback" not in stderr


def row(*cells: str) -> re.Pattern[str]:
    """A table row holding these cells in this order, whatever the padding."""
    return re.compile(r"│\s*" + r"\s*│\s*".join(map(re.escape, cells)) + r"\s*│")


def test_demo_takes_an_order_to_its_invoice_and_exits_0() -> None:
    """The demo creates CC/BL/FA00000001 for 210.62 and takes 12 + 2 out of stock."""
    result = runner.invoke(app, ["simulator", "demo"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    output = result.stdout
    assert "✓ Create an order for C0000001 (integration_piece) CC00000001" in output
    documents = [
        ("order", "CC00000001", "9 transferred"),
        ("delivery note", "BL00000001", "9 transferred"),
        ("invoice", "FA00000001", "1 active"),
    ]
    for kind, number, state in documents:
        assert row(kind, number, state, "175.52", "35.10", "210.62").search(output)
    prices = row("ALB0001", "12", "10.00", "5.00 + 2.00", "9.31", "9.31", "111.72")
    assert prices.search(output)
    assert row("CAF0001", "2", "31.90", "-", "31.90", "31.90", "63.80").search(output)
    assert row("ALB0001", "12", "120.000", "108.000", "100.000", "88.000").search(
        output
    )
    assert row("CAF0001", "2", "40.000", "38.000", "40.000", "38.000").search(output)
    assert row("service", "transfert_piece", "ok", "2").search(output)
    assert row("service", "integration_piece", "ok", "1").search(output)


def test_demo_stops_at_the_first_failed_step_with_exit_1() -> None:
    """A tenant that refuses the customers' dictionary stops the demo there."""
    settings = SimulatorSettings(authorised_dictionaries=("GTRSART.dhoq",))
    output = io.StringIO()
    code = run_demo(Console(file=output, width=200), settings)
    assert code == 1
    lines = output.getvalue().splitlines()
    assert lines[-2:] == [
        "Demo failed at: Read customer C0000001 (GTRSTIERS.dhoq/Client)",
        "error 20: Dictionary 'GTRSTIERS.dhoq' is not authorised for the API",
    ]


def test_docs_settings_table_names_every_setting_and_no_other() -> None:
    """The simulator's README has a settings row for each field a file may set."""
    readme = Path(__file__).parents[2] / "docs" / "simulator" / "README.md"
    first_cells = re.findall(
        r"^\| ([^|]+) \|", readme.read_text(encoding="utf-8"), re.M
    )
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert documented == set(SimulatorSettings.model_fields)
