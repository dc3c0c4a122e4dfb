"""Reading the simulator's settings from a TOML or JSON file.

The file's keys are :class:`~divalto.simulator.SimulatorSettings` fields, nested
tables for nested settings (``[actions]``, ``[[accounts]]``). Unlike the model
itself, the file is read strictly: an unknown key is an error, because a misspelt
setting silently ignored is a simulator that does not behave as its user believes.
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.store import Store


class SettingsFileError(Exception):
    """A settings or seed file that cannot be used; the message is one line."""


def load_simulator_settings(
    path: Path | None, overrides: Mapping[str, Any]
) -> SimulatorSettings:
    """Settings from ``path`` (or the defaults), with ``overrides`` on top.

    Raises :class:`SettingsFileError` naming the file and the offending setting.
    """
    data = read_settings_file(path) if path is not None else {}
    data.update(overrides)
    origin = f"settings file {path}" if path is not None else "settings"
    try:
        settings = SimulatorSettings.model_validate(data, extra="forbid")
    except ValidationError as exc:
        raise SettingsFileError(f"{origin}: {describe(exc)}") from exc
    if settings.seed_data is not None:
        check_seed_file(Path(settings.seed_data))
    return settings


def read_settings_file(path: Path) -> dict[str, Any]:
    """The mapping a ``.toml`` or ``.json`` file holds."""
    suffix = path.suffix.lower()
    if suffix not in {".toml", ".json"}:
        raise SettingsFileError(
            f"settings file {path}: unsupported format '{suffix}' (use .toml or .json)"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise SettingsFileError(f"settings file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise SettingsFileError(f"settings file {path}: {_one_line(exc)}") from exc
    if not isinstance(data, dict):
        raise SettingsFileError(
            f"settings file {path}: the top level must be a mapping of settings"
        )
    return data


def check_seed_file(path: Path) -> None:
    """Load a seed file into a scratch store, so that its errors show before serving."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsFileError(f"seed data {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SettingsFileError(f"seed data {path}: {_one_line(exc)}") from exc
    if not isinstance(data, dict):
        raise SettingsFileError(f"seed data {path}: the top level must be an object")
    try:
        Store().load(data)
    except (ValueError, TypeError, AttributeError, sqlite3.Error) as exc:
        raise SettingsFileError(f"seed data {path}: {_one_line(exc)}") from exc


def describe(error: ValidationError) -> str:
    """Every problem of a validation error on one line, each naming its setting."""
    return "; ".join(
        f"{setting_name(item['loc'])}: {item['msg']}" for item in error.errors()
    )


def setting_name(location: tuple[int | str, ...]) -> str:
    """``("accounts", 0, "password")`` → ``accounts[0].password``."""
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "(top level)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
