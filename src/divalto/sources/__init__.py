"""Readers of shop exports: Shopify, WooCommerce, PrestaShop, Online Retail, JSONL.

:func:`read` turns a file, or every file of a folder, into canonical orders and
refunds (:class:`~divalto.sources.base.Item`), rejections that name the file,
the position and the field, skipped files with their reason, and a catalogue of
the articles seen. It never raises for bad data: an unreadable or unknown file
is a rejection of field ``file``. The format of each file is told from its
content (and extension), or forced with ``source``. ``docs/sources.md`` lists,
source by source, how each field is mapped and every decision taken.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from divalto.mapping import MappingProfile, default_mapping
from divalto.sources._common import SHAPE_ERRORS, Bad, Run, as_bad
from divalto.sources.base import (
    ArticleSeen,
    Catalogue,
    Item,
    Origin,
    ReadResult,
    Rejection,
    Skip,
)
from divalto.sources.jsonl import looks_like_jsonl, read_jsonl
from divalto.sources.online_retail import looks_like_online_retail, read_online_retail
from divalto.sources.prestashop import (
    index,
    looks_like_prestashop,
    parse,
    read_prestashop,
)
from divalto.sources.shopify import looks_like_shopify, read_shopify
from divalto.sources.woocommerce import looks_like_woocommerce, read_woocommerce

__all__ = [
    "SOURCES",
    "ArticleSeen",
    "Catalogue",
    "Item",
    "Origin",
    "ReadResult",
    "Rejection",
    "Skip",
    "detect",
    "read",
]

SOURCES = ("shopify", "woocommerce", "prestashop", "online-retail", "jsonl")
"""The formats :func:`read` knows, as ``source`` names them."""

_JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read(
    path: Path,
    *,
    source: str | None = None,
    mapping: MappingProfile | None = None,
) -> ReadResult:
    """Everything ``path`` holds: a file, or every file under a folder, sorted.

    ``source`` forces one format for every file (one of :data:`SOURCES`);
    without it each file's format is detected. ``mapping`` (the bundled default
    when None) says which currencies are accepted and how prices round. Files
    whose name starts with a dot are not read. Raises only ``ValueError`` for
    an unknown ``source`` and ``FileNotFoundError`` for a missing ``path``.
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    run = Run(mapping or default_mapping())
    files = _files(path)
    run.result.files.extend(files)
    kinds = [_kind(file, source) for file in files]
    _index_prestashop(run, files, kinds)
    for file, kind in zip(files, kinds, strict=True):
        _read_file(run, file, kind)
    return run.result


def detect(file: Path) -> str | None:
    """The format of one file, from its first bytes and its name; None if unknown."""
    return _kind(file, None)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        file
        for file in path.rglob("*")
        if file.is_file()
        and not any(part.startswith(".") for part in file.relative_to(path).parts)
    )


def _kind(file: Path, source: str | None) -> str | None:
    if source is not None:
        return source
    try:
        with file.open("rb") as handle:
            head = handle.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    text = head.lstrip()
    first_line = text.split("\n", 1)[0].strip()
    if text.startswith("<"):
        return "prestashop" if looks_like_prestashop(text) else None
    if file.suffix.lower() in _JSONL_SUFFIXES or (
        text.startswith("{") and looks_like_jsonl(first_line)
    ):
        return "jsonl"
    if text.startswith(("{", "[")):
        return "json"
    if looks_like_online_retail(first_line):
        return "online-retail"
    return None


def _index_prestashop(run: Run, files: list[Path], kinds: list[str | None]) -> None:
    """Customers, addresses and products first, for the orders of any file."""
    for file, kind in zip(files, kinds, strict=True):
        if kind == "prestashop":
            try:
                index(run, parse(_text(file)))
            except (Bad, OSError):
                continue


_DOCUMENT_SUFFIXES = frozenset({".md", ".txt", ".rst", ".pdf", ".html", ".htm"})
_DOCUMENT_NAMES = frozenset({"README", "LICENSE", "LICENCE", "NOTICE", "COPYING"})


def _is_document(file: Path) -> bool:
    """A read-me or a licence text beside the exports: nothing to import."""
    return (
        file.suffix.lower() in _DOCUMENT_SUFFIXES
        or file.stem.upper() in _DOCUMENT_NAMES
    )


def _read_file(run: Run, file: Path, kind: str | None) -> None:
    origin = Origin(file, "file")
    if kind is None and _is_document(file):
        run.result.skipped.append(Skip(file, "a document, not a shop export"))
        return
    try:
        if kind is None:
            raise Bad("file", "not a known shop export (format not recognised)")
        if kind == "online-retail":
            read_online_retail(run, file)
        elif kind == "jsonl":
            read_jsonl(run, file)
        elif kind == "prestashop":
            read_prestashop(run, file, parse(_text(file)))
        else:
            _read_json(run, file, kind)
    except (Bad, *SHAPE_ERRORS) as exc:
        bad = as_bad(exc, "file")
        run.reject(origin, bad.field, bad.reason, None)
    except (OSError, UnicodeDecodeError) as exc:
        run.reject(origin, "file", f"cannot be read: {exc}", None)


def _read_json(run: Run, file: Path, kind: str) -> None:
    try:
        data = json.loads(_text(file), parse_float=Decimal)
    except ValueError as exc:
        raise Bad("file", f"not valid JSON: {exc}") from None
    if kind == "shopify" or (kind == "json" and looks_like_shopify(data)):
        read_shopify(run, file, data)
    elif kind == "woocommerce" or (kind == "json" and looks_like_woocommerce(data)):
        read_woocommerce(run, file, data)
    else:
        raise Bad("file", f"JSON that is no known shop export ({_shape(data)})")


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = ", ".join(list(data)[:5])
        return f"an object with {keys}" if keys else "an empty object"
    if isinstance(data, list):
        return f"a list of {len(data)}"
    return type(data).__name__


def _text(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")
