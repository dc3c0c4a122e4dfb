"""Reading the ERP's XML safely, and keeping outgoing text within its encoding.

XML answers of business services arrive inside a JSON string and declare
``encoding="ISO-8859-1"``; that declaration is not always true. :func:`parse_xml`
first recovers the real text (:func:`repair_encoding`), then parses it with a
parser that refuses any DOCTYPE, so that entity expansion (the "billion laughs"),
external entities and network access can never happen, whatever the document says.

The ERP stores text in a single-byte encoding (ISO-8859-1 or Windows-1252):
:func:`refuse_unencodable` stops text it cannot carry before it is sent, instead
of letting the ERP store question marks.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from divalto.errors import ResponseInvalid, UnencodableText

__all__ = ["parse_xml", "refuse_unencodable", "repair_encoding"]

_BEYOND_LATIN1 = re.compile("[^\x00-\xff]")
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _c1_as_windows_1252() -> dict[int, str]:
    """Latin-1 C1 controls → the Windows-1252 characters of the same bytes.

    The five bytes that Windows-1252 leaves undefined keep their Latin-1 meaning.
    """
    table: dict[int, str] = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            table[code] = chr(code)
    return table


_C1_AS_WINDOWS_1252 = _c1_as_windows_1252()


def repair_encoding(text: str) -> str:
    """Recover the real text of a document whose declared encoding may lie.

    ``text`` is the document as the JSON string carried it. Three cases:

    - it holds a character above U+00FF: it was decoded correctly already and is
      returned as it is (never decoded twice);
    - read back as bytes (one per character), it is valid UTF-8 with non-ASCII
      bytes: UTF-8 under an ISO-8859-1 label, decoded as UTF-8 ("Ã©" → "é");
    - it holds C1 controls (U+0080 to U+009F), which no real ISO-8859-1 text
      contains: Windows-1252 bytes under an ISO-8859-1 label ("\\x80" → "€").

    Otherwise the text is honest ISO-8859-1 and is returned unchanged. The sharp
    edge: an honest text whose Latin-1 letters happen to spell valid UTF-8 (such as
    "Ã©" on purpose) would be repaired too; natural text does not do that.
    """
    if _BEYOND_LATIN1.search(text) is not None:
        return text
    raw = text.encode("latin-1")
    if raw.isascii():
        return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return text.translate(_C1_AS_WINDOWS_1252)


def _hardened_parser() -> etree.XMLParser:
    # The text is already Unicode: the document's own declaration must not count.
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(text: str, **context: Any) -> etree._Element:
    """Parse an XML answer into its root element, after :func:`repair_encoding`.

    A DOCTYPE or an entity declaration is refused before the parser sees it; an
    entity that is not one of XML's five predefined ones is then undefined and
    refused by the parser. ``context`` (``endpoint``, ``action``) goes into the
    error. Raises :class:`~divalto.errors.ResponseInvalid` for an empty, hostile
    or malformed document.
    """
    if not text.strip():
        raise ResponseInvalid("XML answer is empty", **context)
    repaired = repair_encoding(text)
    if _DTD.search(repaired) is not None:
        raise ResponseInvalid(
            "XML answer refused: it declares a DOCTYPE or an entity", **context
        )
    try:
        root = etree.fromstring(repaired.encode("utf-8"), _hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise ResponseInvalid(
            f"XML answer is not well-formed: {exc.msg}", **context
        ) from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise ResponseInvalid("XML answer refused: it holds a DTD", **context)
    return root


def refuse_unencodable(
    value: str, *, field: str, encoding: str, **context: Any
) -> None:
    """Raise if ``value`` holds characters that ``encoding`` cannot carry.

    Raises :class:`~divalto.errors.UnencodableText` naming ``field`` and every
    offending character once, with its code point, in order of appearance.
    """
    try:
        value.encode(encoding)
    except UnicodeEncodeError:
        pass
    else:
        return
    offending = "".join(
        char for char in dict.fromkeys(value) if not _encodable(char, encoding)
    )
    named = ", ".join(f"'{char}' (U+{ord(char):04X})" for char in offending)
    raise UnencodableText(
        f"Text of '{field}' holds characters that {encoding} cannot carry: {named}",
        field=field,
        characters=offending,
        **context,
    )


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True
