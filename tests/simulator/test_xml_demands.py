"""XML demands over ``SYNCHRO_INFINITY_AGILEO``: stock, errors, encoding, hardening."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from tests.simulator.conftest import Wire

XML_SERVICE = "SYNCHRO_INFINITY_AGILEO"
BAD_SERVICE_PARAM = 31
CAF_LABEL = "Cafetière « Cœur » édition 10 €"
DECLARATION = "<?xml version='1.0' encoding='ISO-8859-1'?>\n"


def demand(name: str, dos: str = "998", **params: str) -> str:
    """A ``<dem>`` document with one ``<action>`` and its parameters, built by lxml."""
    root = etree.Element("dem")
    action = etree.SubElement(root, "action", {"dos": dos, "nom": name})
    for tag, text in params.items():
        etree.SubElement(action, tag).text = text
    return etree.tostring(root, encoding="unicode")


def parse_answer(result: str) -> etree._Element:
    """Read ``result`` the way a client must: back to bytes, then parsed as declared."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(result.encode("latin-1"), parser)


def ask(wire: Wire, name: str, **params: str) -> etree._Element:
    """Send one demand that must succeed at the envelope level; return ``<rep>``."""
    envelope = wire.service(XML_SERVICE, demand(name, **params))
    assert envelope["error"] == 0, envelope
    assert envelope["txterr"] == ""
    return parse_answer(envelope["result"])


def stock_lines(rep: etree._Element) -> list[tuple[str, ...]]:
    """Each ``<ligne>`` as (ref, sref1, sref2, depot, stock, reserve, disponible)."""
    tags = ("ref", "sref1", "sref2", "depot", "stock", "reserve", "disponible")
    return [
        tuple(line.findtext(tag) or "" for tag in tags) for line in rep.iter("ligne")
    ]


def refused(wire: Wire, param: str) -> str:
    """Send a demand that must fail at the envelope level; return its ``txterr``."""
    envelope = wire.service(XML_SERVICE, param)
    assert envelope["error"] == BAD_SERVICE_PARAM, envelope
    assert "result" not in envelope
    txterr: str = envelope["txterr"]
    return txterr


def error_of(rep: etree._Element) -> tuple[str | None, str | None]:
    """The ``code`` and text of the ``<erreur>`` under ``<rep>``."""
    erreur = rep.find("erreur")
    assert erreur is not None, etree.tostring(rep)
    return erreur.get("code"), erreur.text


def test_stock_of_every_depot_is_answered_per_depot(wire: Wire) -> None:
    """`depot` `*` lists each depot with physical, reserved and available stock."""
    rep = ask(wire, "INTERROGER_STOCK", ref="ALB0001", depot="*")

    assert rep.tag == "rep"
    assert rep.attrib == {"version": "1"}
    assert stock_lines(rep) == [
        ("ALB0001", "", "", "1", "120.000", "20.000", "100.000"),
        ("ALB0001", "", "", "2", "15.000", "0.000", "15.000"),
    ]


def test_answer_starts_with_the_lower_case_echo_of_the_demand(wire: Wire) -> None:
    """The first child of `<rep>` is `<action dos="998" nom="interroger_stock"/>`."""
    rep = ask(wire, "INTERROGER_STOCK", ref="ALB0001")

    echo = rep[0]
    assert echo.tag == "action"
    assert echo.attrib == {"dos": "998", "nom": "interroger_stock"}
    assert len(echo) == 0
    assert [child.tag for child in rep] == ["action", "article", "ligne", "ligne"]


def test_stock_without_depot_means_every_depot(wire: Wire) -> None:
    """An absent `depot` answers like `*`."""
    rep = ask(wire, "INTERROGER_STOCK", ref="ALB0001")

    assert [line[3] for line in stock_lines(rep)] == ["1", "2"]


def test_stock_of_one_depot_is_that_depot_only(wire: Wire) -> None:
    """A named depot answers one line for it."""
    rep = ask(wire, "INTERROGER_STOCK", ref="ALB0001", depot="2")

    assert stock_lines(rep) == [("ALB0001", "", "", "2", "15.000", "0.000", "15.000")]


def test_stock_without_sref1_lists_every_sub_reference(wire: Wire) -> None:
    """An article with sub-references asked without `sref1` lists them all."""
    rep = ask(wire, "INTERROGER_STOCK", ref="BLO0001", depot="1")

    assert stock_lines(rep) == [
        ("BLO0001", "L", "BLEU", "1", "3.000", "1.000", "2.000"),
        ("BLO0001", "XL", "BLEU", "1", "8.000", "0.000", "8.000"),
        ("BLO0001", "XL", "ROUGE", "1", "0.000", "0.000", "0.000"),
    ]


def test_stock_with_sref1_only_lists_its_second_sub_references(wire: Wire) -> None:
    """`sref1` alone keeps every `sref2` of it, in every depot."""
    rep = ask(wire, "INTERROGER_STOCK", ref="BLO0001", sref1="XL")

    assert stock_lines(rep) == [
        ("BLO0001", "XL", "BLEU", "1", "8.000", "0.000", "8.000"),
        ("BLO0001", "XL", "ROUGE", "1", "0.000", "0.000", "0.000"),
        ("BLO0001", "XL", "BLEU", "2", "0.000", "0.000", "0.000"),
        ("BLO0001", "XL", "ROUGE", "2", "0.000", "0.000", "0.000"),
    ]


def test_stock_of_one_sub_reference_pair_in_one_depot(wire: Wire) -> None:
    """Both sub-references and a depot narrow the answer to one line."""
    rep = ask(
        wire, "INTERROGER_STOCK", ref="BLO0001", sref1="L", sref2="BLEU", depot="1"
    )

    assert stock_lines(rep) == [
        ("BLO0001", "L", "BLEU", "1", "3.000", "1.000", "2.000")
    ]


def test_stock_answer_carries_the_article_label(wire: Wire) -> None:
    """`<article>` holds the reference, the label with €, œ and accents, the unit."""
    rep = ask(wire, "INTERROGER_STOCK", ref="CAF0001", depot="1")

    assert rep.findtext("article/ref") == "CAF0001"
    assert rep.findtext("article/des") == CAF_LABEL
    assert rep.findtext("article/un") == "U"
    assert stock_lines(rep) == [("CAF0001", "", "", "1", "40.000", "0.000", "40.000")]


def test_stock_reflects_seeded_fractional_quantities(wire: Wire) -> None:
    """Stock rows seeded later are read as decimals, available = physical − reserved."""
    wire.simulator.control.seed(
        {"STOCK": [{"REF": "PORT", "DEPO": "2", "QTESTK": "7.25", "QTERES": "9.5"}]}
    )
    rep = ask(wire, "INTERROGER_STOCK", ref="PORT", depot="2")

    assert stock_lines(rep) == [("PORT", "", "", "2", "7.250", "9.500", "-2.250")]


def test_stock_beyond_twenty_eight_digits_is_written_in_full(wire: Wire) -> None:
    """A stock too large for the default decimal precision is still answered."""
    huge = "1" + "0" * 27
    wire.simulator.control.seed(
        {"STOCK": [{"REF": "PORT", "DEPO": "2", "QTESTK": huge, "QTERES": "0"}]}
    )
    rep = ask(wire, "INTERROGER_STOCK", ref="PORT", depot="2")

    assert stock_lines(rep) == [
        ("PORT", "", "", "2", f"{huge}.000", "0.000", f"{huge}.000")
    ]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"ref": "NOPE999"}, "ARTICLE", "Article inexistant"),
        ({"ref": "ALB0001", "depot": "9"}, "DEPOT", "Dépôt inexistant"),
        ({"ref": "BLO0001", "sref1": "XXL"}, "SREF_INEXISTANTE", None),
        ({"ref": "BLO0001", "sref1": "L", "sref2": "ROUGE"}, "SREF_INEXISTANTE", None),
        ({"ref": "ALB0001", "sref1": "XL"}, "SREF_INEXISTANTE", None),
    ],
)
def test_stock_of_something_unknown_is_an_erreur_in_the_answer(
    wire: Wire, params: dict[str, str], code: str, text: str | None
) -> None:
    """Unknown article, depot or sub-reference: `<erreur>` with envelope error 0."""
    rep = ask(wire, "INTERROGER_STOCK", **params)

    assert error_of(rep) == (code, text or "Sous référence inexistante")
    assert [child.tag for child in rep] == ["action", "erreur"]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"tiers": "C9999999", "ref": "ALB0001"}, "TIERS", "Tiers inexistant"),
        ({"tiers": "C0000001", "ref": "NOPE999"}, "ARTICLE", "Article inexistant"),
        (
            {"tiers": "C0000001", "ref": "ALB0001", "depot": "9"},
            "DEPOT",
            "Dépôt inexistant",
        ),
        (
            {"tiers": "C0000001", "ref": "BLO0001"},
            "SREF_OBLIGATOIRE",
            "Sous-réf obligatoire",
        ),
        (
            {"tiers": "C0000001", "ref": "BLO0001", "sref2": "BLEU"},
            "SREF_OBLIGATOIRE",
            "Sous-réf obligatoire",
        ),
        (
            {"tiers": "C0000001", "ref": "BLO0001", "sref1": "L", "sref2": "ROUGE"},
            "SREF_INEXISTANTE",
            "Sous référence inexistante",
        ),
        (
            {"tiers": "C0000001", "ref": "BLO0001", "sref1": "XL"},
            "SREF_INEXISTANTE",
            "Sous référence inexistante",
        ),
        (
            {"tiers": "C0000001", "ref": "ALB0001", "sref1": "XL", "sref2": "BLEU"},
            "SREF_INEXISTANTE",
            "Sous référence inexistante",
        ),
    ],
)
def test_tarif_documented_error_texts(
    wire: Wire, params: dict[str, str], code: str, text: str
) -> None:
    """Each documented `INTERROGER_TARIF` error comes back word for word."""
    rep = ask(wire, "INTERROGER_TARIF", **params)

    assert error_of(rep) == (code, text)
    assert rep[0].attrib == {"dos": "998", "nom": "interroger_tarif"}


def test_first_failing_check_wins_in_documented_order(wire: Wire) -> None:
    """With an unknown customer and an unknown article, the customer is named."""
    rep = ask(wire, "INTERROGER_TARIF", tiers="C9999999", ref="NOPE999", depot="9")

    assert error_of(rep) == ("TIERS", "Tiers inexistant")


def test_request_log_records_demand_and_outcome(wire: Wire) -> None:
    """The log names the demand; an `<erreur>` is `rejected`, a bad demand `error`."""
    control = wire.simulator.control
    ask(wire, "INTERROGER_STOCK", ref="ALB0001")
    ask(wire, "INTERROGER_TARIF", tiers="C9999999", ref="ALB0001")
    refused(wire, demand("INTERROGER_TARIF", ref="ALB0001"))

    logged = [
        (entry["service_action"], entry["action"], entry["outcome"], entry["error"])
        for entry in control.requests(route="service")
    ]
    assert logged == [
        (XML_SERVICE, "INTERROGER_STOCK", "ok", 0),
        (XML_SERVICE, "INTERROGER_TARIF", "rejected", 0),
        (XML_SERVICE, "INTERROGER_TARIF", "error", BAD_SERVICE_PARAM),
    ]


def test_demand_name_is_read_without_regard_to_case(wire: Wire) -> None:
    """`nom="interroger_stock"` is the same demand as upper case."""
    rep = ask(wire, "interroger_stock", ref="ALB0001", depot="2")

    assert rep[0].get("nom") == "interroger_stock"
    assert len(stock_lines(rep)) == 1


def test_xml_declaration_and_confidentiality_user_are_accepted(wire: Wire) -> None:
    """A declared encoding and a `user` attribute do not disturb the demand."""
    param = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        '<dem><action dos="998" nom="INTERROGER_STOCK" user="DEMO">'
        "<ref>CAF0001</ref><depot>1</depot></action></dem>"
    )
    envelope = wire.service(XML_SERVICE, param)

    assert envelope["error"] == 0, envelope
    assert parse_answer(envelope["result"]).findtext("article/des") == CAF_LABEL


@pytest.mark.parametrize(
    ("param", "txterr"),
    [
        ("", "Parameter 'param' is empty: an XML <dem> is expected"),
        ("<dem/>", "Missing <action> element in <dem>"),
        (
            '<demande><action dos="998" nom="INTERROGER_STOCK"/></demande>',
            "Root element of param must be <dem>, not <demande>",
        ),
        (
            '<dem><action dos="998" nom="A"/><action dos="998" nom="B"/></dem>',
            "One <action> per <dem> expected, found 2",
        ),
        (
            '<dem><action dos="998"><ref>ALB0001</ref></action></dem>',
            "Attribute 'nom' of <action> is required",
        ),
        (
            '<dem><action nom="INTERROGER_STOCK"><ref>ALB0001</ref></action></dem>',
            "Attribute 'dos' of <action> is required",
        ),
        (
            demand("INTERROGER_STOCK", dos="999", ref="ALB0001"),
            "Demand for dossier '999' refused: this account works in dossier '998'",
        ),
        (demand("INTERROGER_PRIX", ref="ALB0001"), "Unknown demand 'INTERROGER_PRIX'"),
        (
            demand("INTERROGER_STOCK", ref="ALB0001", quantite="1"),
            "Unknown parameter <quantite> in demand INTERROGER_STOCK",
        ),
        (
            '<dem><action dos="998" nom="INTERROGER_STOCK">'
            "<ref>ALB0001</ref><ref>BLO0001</ref></action></dem>",
            "Parameter <ref> given twice in demand INTERROGER_STOCK",
        ),
        (
            '<dem><action dos="998" nom="INTERROGER_STOCK">'
            "<ref><code>ALB0001</code></ref></action></dem>",
            "Parameter <ref> must hold text, not elements",
        ),
        (
            demand("INTERROGER_STOCK", depot="1"),
            "Demand INTERROGER_STOCK: parameter <ref> is required",
        ),
        (
            demand("INTERROGER_TARIF", ref="ALB0001"),
            "Demand INTERROGER_TARIF: parameter <tiers> is required",
        ),
        (
            demand("INTERROGER_TARIF", tiers="C0000001", ref=" "),
            "Demand INTERROGER_TARIF: parameter <ref> is required",
        ),
        (
            demand("INTERROGER_TARIF", tiers="C0000001", ref="ALB0001", prix="3"),
            "Parameter <prix> must be 1 (excluding tax) or 2 (including tax): '3'",
        ),
        (
            demand("INTERROGER_TARIF", tiers="C0000001", ref="ALB0001", quantite="1e3"),
            "Parameter <quantite> is not a number: '1e3'",
        ),
        (
            demand("INTERROGER_TARIF", tiers="C0000001", ref="ALB0001", quantite="NaN"),
            "Parameter <quantite> is not a number: 'NaN'",
        ),
        (
            demand(
                "INTERROGER_TARIF", tiers="C0000001", ref="ALB0001", quantite="1,2345"
            ),
            "Parameter <quantite> has more than 3 decimals: '1,2345'",
        ),
    ],
)
def test_unreadable_demand_is_an_envelope_error(
    wire: Wire, param: str, txterr: str
) -> None:
    """A demand that cannot be read gets `error` 31 and a `txterr` naming why."""
    assert refused(wire, param) == txterr


def test_malformed_xml_is_an_envelope_error_naming_the_parser_problem(
    wire: Wire,
) -> None:
    """Broken XML gets `error` 31 and the parser's own diagnosis."""
    param = '<dem><action dos="998" nom="INTERROGER_STOCK"><ref>ALB0001</action></dem>'

    txterr = refused(wire, param)

    assert txterr.startswith(
        "Malformed XML in param: Opening and ending tag mismatch: ref"
    )


def test_undeclared_entity_is_malformed_xml(wire: Wire) -> None:
    """An entity reference without a DTD is a parse error, not a lookup."""
    param = (
        '<dem><action dos="998" nom="INTERROGER_STOCK"><ref>&x;</ref></action></dem>'
    )

    assert refused(wire, param).startswith(
        "Malformed XML in param: Entity 'x' not defined"
    )


def _entity_bomb(levels: int = 10) -> str:
    entities = ['<!ENTITY e0 "lollollollollollollollollollol">']
    for level in range(1, levels):
        refs = f"&e{level - 1};" * 10
        entities.append(f'<!ENTITY e{level} "{refs}">')
    subset = "\n ".join(entities)
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE dem [\n {subset}\n]>\n'
        f'<dem><action dos="998" nom="INTERROGER_STOCK">'
        f"<ref>&e{levels - 1};</ref></action></dem>"
    )


@pytest.mark.parametrize(
    "param",
    [
        pytest.param(_entity_bomb(), id="billion-laughs"),
        pytest.param(
            '<!DOCTYPE dem [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<dem><action dos="998" nom="INTERROGER_STOCK"><ref>&x;</ref>'
            "</action></dem>",
            id="external-entity",
        ),
        pytest.param(
            '<!DOCTYPE dem SYSTEM "http://127.0.0.1:9/evil.dtd">'
            '<dem><action dos="998" nom="INTERROGER_STOCK"><ref>ALB0001</ref>'
            "</action></dem>",
            id="external-dtd",
        ),
        pytest.param(
            '<!doctype dem><dem><action dos="998" nom="INTERROGER_STOCK">'
            "<ref>ALB0001</ref></action></dem>",
            id="lower-case-doctype",
        ),
    ],
)
def test_doctype_is_refused_quickly_before_parsing(wire: Wire, param: str) -> None:
    """Entity bombs and external entities are refused with `error` 31, unexpanded."""
    started = time.perf_counter()

    txterr = refused(wire, param)

    assert txterr == "DOCTYPE refused in param: a demand may not hold a DTD"
    assert time.perf_counter() - started < 2.0


def test_honest_answer_is_really_iso_8859_1(wire: Wire) -> None:
    """Latin-1 letters are single bytes; € and œ travel as character references."""
    envelope = wire.service(XML_SERVICE, demand("INTERROGER_STOCK", ref="CAF0001"))
    result = envelope["result"]
    raw = result.encode("latin-1")

    assert result.startswith(DECLARATION)
    assert b"Cafeti\xe8re \xab C&#339;ur \xbb \xe9dition 10 &#8364;</des>" in raw
    assert parse_answer(result).findtext("article/des") == CAF_LABEL


def test_honest_tarif_answer_carries_the_label_too(wire: Wire) -> None:
    """The price simulation's `<article><des>` comes back intact, € and œ included."""
    rep = ask(wire, "INTERROGER_TARIF", tiers="C0000002", ref="CAF0001")

    assert rep.findtext("article/des") == CAF_LABEL


def test_lying_encoding_utf8_sends_utf8_bytes_under_latin1_label(wire: Wire) -> None:
    """Under the fault, UTF-8 bytes read as ISO-8859-1 give the classic mojibake."""
    wire.simulator.control.add_fault(
        "lying_encoding", route="service", encoding="utf-8"
    )

    envelope = wire.service(XML_SERVICE, demand("INTERROGER_STOCK", ref="CAF0001"))
    result = envelope["result"]
    raw = result.encode("latin-1")

    assert result.startswith(DECLARATION)
    assert "Cafetière « Cœur » édition 10 €".encode() in raw
    assert parse_answer(result).findtext("article/des") == (
        "CafetiÃ¨re Â« CÅ\x93ur Â» Ã©dition 10 â\x82¬"
    )


def test_lying_encoding_cp1252_sends_0x80_for_euro(wire: Wire) -> None:
    """Under the Windows-1252 fault, € is byte 0x80 and œ byte 0x9C, unreferenced."""
    wire.simulator.control.add_fault(
        "lying_encoding", route="service", encoding="windows-1252"
    )

    envelope = wire.service(
        XML_SERVICE, demand("INTERROGER_TARIF", tiers="C0000002", ref="CAF0001")
    )
    result = envelope["result"]
    raw = result.encode("latin-1")

    assert result.startswith(DECLARATION)
    assert b"Cafeti\xe8re \xab C\x9cur \xbb \xe9dition 10 \x80</des>" in raw
    assert b"&#" not in raw
    assert parse_answer(result).findtext("article/des") == (
        "Cafetière « C\x9cur » édition 10 \x80"
    )
