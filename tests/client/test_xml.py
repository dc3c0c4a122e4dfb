"""Hardened XML parsing, encoding repair, outgoing text checks and typed answers.

The simulator never sends hostile XML nor commas in decimals, so these tests feed
crafted strings to the client's own parser and readers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from divalto import errors
from divalto.services import (
    Demand,
    parse_decimal,
    price_quote,
    read_action_result,
    read_answer,
    stock_answer,
)
from divalto.xmlsafe import parse_xml, refuse_unencodable, repair_encoding

LABEL = "Cafetière « Cœur » édition 10 €"
DECLARATION = "<?xml version='1.0' encoding='ISO-8859-1'?>\n"

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rep [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><rep>&c;</rep>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE rep [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<rep>&x;</rep>"
)


def _stock_xml(lines: str) -> str:
    return (
        DECLARATION + '<rep version="1"><action dos="998" nom="interroger_stock"/>'
        "<article><ref>ALB0001</ref><des>Album</des><un>U</un></article>"
        f"{lines}</rep>"
    )


def test_entity_bomb_is_refused_before_parsing() -> None:
    """A DOCTYPE declaring nested entities is refused as an invalid answer."""
    with pytest.raises(errors.ResponseInvalid) as caught:
        parse_xml(BILLION_LAUGHS)
    assert caught.value.message == (
        "XML answer refused: it declares a DOCTYPE or an entity"
    )


def test_external_entity_is_refused_and_never_read() -> None:
    """An external entity pointing at a local file is refused."""
    with pytest.raises(errors.ResponseInvalid) as caught:
        parse_xml(EXTERNAL_ENTITY)
    assert "DOCTYPE" in caught.value.message
    assert "root:" not in str(caught.value)


def test_lowercase_doctype_is_refused_too() -> None:
    """The DOCTYPE check does not depend on the keyword's case or spacing."""
    with pytest.raises(errors.ResponseInvalid):
        parse_xml("<!doctype rep><rep/>")
    with pytest.raises(errors.ResponseInvalid):
        parse_xml("<rep><! ENTITY x 'y'></rep>")


def test_undefined_entity_is_a_malformed_answer() -> None:
    """An entity reference without a DTD is refused by the parser, not expanded."""
    with pytest.raises(errors.ResponseInvalid) as caught:
        parse_xml("<rep>&nope;</rep>", action="INTERROGER_STOCK")
    assert caught.value.message == (
        "XML answer is not well-formed: Entity 'nope' not defined, line 1, column 12"
    )
    assert caught.value.action == "INTERROGER_STOCK"


def test_empty_and_truncated_answers_are_invalid() -> None:
    """An empty answer and a cut one are contract errors, not crashes."""
    with pytest.raises(errors.ResponseInvalid, match="empty"):
        parse_xml("  ")
    with pytest.raises(errors.ResponseInvalid, match="not well-formed"):
        parse_xml("<rep><ligne>")


def test_honest_latin1_with_character_references_is_read_exactly() -> None:
    """ISO-8859-1 text with references for € and œ gives back the exact label."""
    honest = (
        DECLARATION + "<rep><des>Cafeti\xe8re \xab C&#339;ur \xbb \xe9dition "
        "10 &#8364;</des></rep>"
    )
    assert parse_xml(honest).findtext("des") == LABEL


def test_utf8_bytes_under_latin1_label_are_repaired() -> None:
    """UTF-8 bytes read as Latin-1 (mojibake such as 'Ã©') are decoded as UTF-8."""
    lying = (DECLARATION + f"<rep><des>{LABEL}</des></rep>").encode("utf-8")
    assert "Ã©" in lying.decode("latin-1")
    assert parse_xml(lying.decode("latin-1")).findtext("des") == LABEL


def test_windows_1252_bytes_under_latin1_label_are_repaired() -> None:
    """Windows-1252 bytes (€ as 0x80, œ as 0x9C) under ISO-8859-1 are repaired."""
    lying = (DECLARATION + f"<rep><des>{LABEL}</des></rep>").encode("cp1252")
    text = lying.decode("latin-1")
    assert "\x80" in text
    assert "\x9c" in text
    assert parse_xml(text).findtext("des") == LABEL


def test_text_already_decoded_is_not_decoded_twice() -> None:
    """A string holding characters above U+00FF is parsed as it is."""
    decoded = DECLARATION + f"<rep><des>{LABEL} Ã©</des></rep>"
    assert repair_encoding(decoded) == decoded
    assert parse_xml(decoded).findtext("des") == f"{LABEL} Ã©"


def test_pure_ascii_text_is_left_alone() -> None:
    """ASCII text needs no repair and is returned as the same string."""
    assert repair_encoding("<rep/>") == "<rep/>"


def test_text_outside_the_erp_encoding_is_refused_naming_characters() -> None:
    """Characters Windows-1252 lacks are named once each, in order, with code points."""
    with pytest.raises(errors.UnencodableText) as caught:
        refuse_unencodable(
            "Łódź — ☃ Łaska ☃", field="data.ient.nom", encoding="windows-1252"
        )
    assert caught.value.characters == "Łź☃"
    assert caught.value.field == "data.ient.nom"
    assert caught.value.message == (
        "Text of 'data.ient.nom' holds characters that windows-1252 cannot carry: "
        "'Ł' (U+0141), 'ź' (U+017A), '☃' (U+2603)"
    )


def test_euro_and_oe_pass_windows_1252_but_not_latin1() -> None:
    """€ and œ are Windows-1252 characters that ISO-8859-1 cannot carry."""
    refuse_unencodable(LABEL, field="des", encoding="windows-1252")
    with pytest.raises(errors.UnencodableText) as caught:
        refuse_unencodable(LABEL, field="des", encoding="iso-8859-1")
    assert caught.value.characters == "œ€"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12,50", "12.50"),
        ("12.50", "12.50"),
        (" -3,125 ", "-3.125"),
        ("0", "0"),
        (",5", "0.5"),
    ],
)
def test_decimals_read_with_a_comma_or_a_point(text: str, expected: str) -> None:
    """A decimal comma and a decimal point give the same exact Decimal."""
    assert parse_decimal(text, field="pub") == Decimal(expected)


@pytest.mark.parametrize("text", ["1 234,50", "1.234,50", "12,5,0", "", "abc", "1e3"])
def test_ambiguous_or_foreign_numbers_are_refused(text: str) -> None:
    """Thousands separators, exponents and words are contract errors naming the tag."""
    with pytest.raises(errors.ResponseInvalid) as caught:
        parse_decimal(text, field="pub")
    assert caught.value.message == f"<pub> is not a decimal number: {text!r}"


def test_stock_answer_with_comma_decimals_and_one_line_is_a_list() -> None:
    """One <ligne> gives a list of one level, decimals with commas read exactly."""
    root = read_answer(
        _stock_xml(
            "<ligne><ref>ALB0001</ref><depot>1</depot><stock>120,5</stock>"
            "<reserve>20,25</reserve><disponible>100,25</disponible></ligne>"
        ),
        "INTERROGER_STOCK",
    )
    answer = stock_answer(root)
    assert len(answer.levels) == 1
    level = answer.levels[0]
    assert (level.physical, level.reserved, level.available) == (
        Decimal("120.5"),
        Decimal("20.25"),
        Decimal("100.25"),
    )
    assert (level.sref1, level.sref2) == (None, None)


def test_stock_answer_without_lines_is_an_empty_list() -> None:
    """No <ligne> at all gives an empty list, never None."""
    assert stock_answer(read_answer(_stock_xml(""), "INTERROGER_STOCK")).levels == []


def test_missing_required_field_is_a_contract_error() -> None:
    """A <ligne> without <disponible> is refused, naming the missing tag."""
    root = read_answer(
        _stock_xml(
            "<ligne><ref>ALB0001</ref><depot>1</depot><stock>1</stock>"
            "<reserve>0</reserve></ligne>"
        ),
        "INTERROGER_STOCK",
    )
    with pytest.raises(errors.ResponseInvalid) as caught:
        stock_answer(root)
    assert isinstance(caught.value, errors.ContractError)
    assert caught.value.message == (
        "INTERROGER_STOCK answer: <disponible> is missing under <ligne>"
    )


def test_price_answer_without_tarif_is_a_contract_error() -> None:
    """An INTERROGER_TARIF answer without <tarif> is refused."""
    root = read_answer(
        '<rep version="1"><action dos="998" nom="interroger_tarif"/></rep>',
        "INTERROGER_TARIF",
    )
    with pytest.raises(errors.ResponseInvalid, match="<tarif> is missing"):
        price_quote(root)


def test_price_answer_keeps_absent_optionals_as_none() -> None:
    """Absent optional tags (mtht, tvataux, rem2, rem3) are None or left out."""
    root = read_answer(
        '<rep version="1"><action dos="998" nom="interroger_tarif"/><tarif>'
        "<pub>10,00</pub><rem1>5</rem1><punet>9,50</punet><montant>19,00</montant>"
        "</tarif></rep>",
        "INTERROGER_TARIF",
    )
    quote = price_quote(root)
    assert quote.discounts == (Decimal("5"),)
    assert (quote.gross, quote.net, quote.amount) == (
        Decimal("10.00"),
        Decimal("9.50"),
        Decimal("19.00"),
    )
    assert (quote.amount_excluding_tax, quote.vat_rate, quote.article) == (
        None,
        None,
        None,
    )


def test_answer_for_another_demand_is_refused() -> None:
    """An answer whose echo names another demand is not taken for this one."""
    with pytest.raises(errors.ResponseInvalid, match="'interroger_tarif'"):
        read_answer(
            '<rep><action dos="998" nom="interroger_tarif"/></rep>', "INTERROGER_STOCK"
        )


def test_unknown_erreur_text_escalates_as_a_business_rule() -> None:
    """An <erreur> whose text is not a documented one is a business refusal."""
    with pytest.raises(errors.BusinessRuleRejected) as caught:
        read_answer(
            '<rep><action nom="interroger_tarif"/><erreur code="TVA">VAT code '
            "'9' of article X not in TVA</erreur></rep>",
            "INTERROGER_TARIF",
        )
    assert caught.value.resultcode == "TVA"
    assert caught.value.errormessage == "VAT code '9' of article X not in TVA"


def test_demand_is_built_by_lxml_with_values_escaped() -> None:
    """Markup inside a value is escaped by the XML library, never concatenated."""
    demand = Demand.of("INTERROGER_STOCK", ref="A<B&C", depot="*", sref1=None)
    assert demand.to_xml("998", encoding="windows-1252") == (
        '<dem><action dos="998" nom="INTERROGER_STOCK"><ref>A&lt;B&amp;C</ref>'
        "<depot>*</depot></action></dem>"
    )


def test_demand_with_a_control_character_is_refused() -> None:
    """A control character XML cannot carry is refused, naming the parameter."""
    with pytest.raises(errors.UnencodableText) as caught:
        Demand.of("INTERROGER_STOCK", ref="AL\x01B").to_xml("998", encoding="cp1252")
    assert caught.value.field == "INTERROGER_STOCK.ref"
    assert caught.value.characters == "\x01"


def test_action_result_that_is_not_json_is_invalid() -> None:
    """A business answer whose result is not JSON is a contract error."""
    with pytest.raises(errors.ResponseInvalid, match="integration_piece"):
        read_action_result("<html>", "integration_piece")


def test_unknown_resultcode_is_invalid() -> None:
    """A resultcode outside 0-3 is not guessed at: the answer is invalid."""
    answer = '{"result": {"common": {"resultcode": "7", "errormessage": "?"}}}'
    with pytest.raises(errors.ResponseInvalid, match="unknown resultcode '7'"):
        read_action_result(answer, "integration_piece")
