"""Commercial documents over the wire: numbering, prices, references, transfers,
stock, credit notes, cancellation and state, through ``WEB_SERVICE_INFINITY``.

Customer C0000002 has no price list and no discount, so its prices are the
articles' base prices (``ART.PUB``) whatever the pricing engine's rules.
"""

from __future__ import annotations

from typing import Any

from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire

QUOTE, ORDER, DELIVERY, INVOICE, CREDIT_NOTE = "1", "2", "3", "4", "5"
DAY = "20260115"


def line(ref: str, qte: str, **fields: str) -> dict[str, Any]:
    return {"imouv": {"Ref": ref, "Qte": qte, **fields}}


def create(
    wire: Wire, picod: str, lines: list[dict[str, Any]], **ient: str
) -> dict[str, Any]:
    header = {"PiCod": picod, "PiDt": DAY, **ient}
    header.setdefault("Tiers", "C0000002")
    data: dict[str, Any] = {"ient": header}
    if lines:
        data["imouvtb"] = lines
    return wire.json_action("integration_piece", data)


def transfer(
    wire: Wire, picod: str, pino: str, target: str, *asked: tuple[int, str], **ient: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ient": {"PiCod": picod, "PiNo": pino, "PiCodDest": target, **ient}
    }
    if asked:
        data["imouvtb"] = [{"imouv": {"EnrNo": n, "Qte": q}} for n, q in asked]
    return wire.json_action("transfert_piece", data)


def common(result: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = result["result"]["common"]
    return found


def piece(result: dict[str, Any]) -> dict[str, Any]:
    assert common(result) == {"resultcode": "0", "errormessage": ""}, result
    found: dict[str, Any] = result["result"]["response"]["piece"]
    return found


def refused(result: dict[str, Any]) -> tuple[str, str]:
    assert result["result"]["response"] == {}
    return common(result)["resultcode"], common(result)["errormessage"]


def stock(simulator: RunningSimulator, ref: str, depo: str = "1", **subs: str) -> str:
    rows = simulator.control.table("STOCK", REF=ref, DEPO=depo, **subs)
    assert len(rows) == 1, rows
    quantity: str = rows[0]["QTESTK"]
    return quantity


def header(simulator: RunningSimulator, prefpino: str) -> dict[str, Any]:
    (row,) = simulator.control.table("ENT", PREFPINO=prefpino)
    return row


def transferred(simulator: RunningSimulator, prefpino: str) -> list[str]:
    entry = header(simulator, prefpino)
    rows = simulator.control.table("MOUV", ENT_ID=entry["ENT_ID"])
    return [row["QTETRF"] for row in rows]


def test_documents_are_numbered_per_type_with_their_prefixes(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Each document type counts on its own and prefixes its number."""
    created = [
        piece(create(wire, picod, [line("PORT", "1")]))["prefpino"]
        for picod in (ORDER, ORDER, QUOTE, DELIVERY, INVOICE, ORDER)
    ]

    assert created == [
        "CC00000001",
        "CC00000002",
        "DV00000001",
        "BL00000001",
        "FA00000001",
        "CC00000003",
    ]
    rows = divalto_simulator.control.table("ENT")
    assert [(row["PICOD"], row["PINO"]) for row in rows] == [
        (2, "00000001"),
        (2, "00000002"),
        (1, "00000001"),
        (3, "00000001"),
        (4, "00000001"),
        (2, "00000003"),
    ]


def test_order_at_base_prices_has_exact_totals_and_vat_per_code(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """HT sums the lines, VAT is rounded per code, TTC is HT plus VAT."""
    result = create(
        wire,
        ORDER,
        [
            line("ALB0001", "3"),
            line("CAF0001", "2"),
            line("BLO0001", "1", Sref1="XL", Sref2="BLEU", TvaCod="2"),
        ],
        PiRef="SHOP-1",
    )

    document = piece(result)
    assert (document["htmt"], document["tvamt"], document["ttcmt"]) == (
        "197.20",
        "26.40",
        "223.60",
    )
    assert document["taxes"] == [
        {"tvacod": "1", "taux": "20.00", "base": "107.30", "tvamt": "21.46"},
        {"tvacod": "2", "taux": "5.50", "base": "89.90", "tvamt": "4.94"},
    ]
    assert [(x["ref"], x["pub"], x["punet"], x["mtht"]) for x in document["lines"]] == [
        ("ALB0001", "12.50", "12.50", "37.50"),
        ("CAF0001", "34.90", "34.90", "69.80"),
        ("BLO0001", "89.90", "89.90", "89.90"),
    ]
    row = header(divalto_simulator, "CC00000001")
    assert (row["HTMT"], row["TVAMT"], row["TTCMT"], row["CE4"], row["VERSION"]) == (
        "197.20",
        "26.40",
        "223.60",
        "1",
        1,
    )
    assert (row["TIERS"], row["PIDT"], row["PIREF"], row["REGCOD"]) == (
        "C0000002",
        DAY,
        "SHOP-1",
        "CPT",
    )


def test_order_lines_take_the_engine_price_list_and_discounts(wire: Wire) -> None:
    """A customer with a price family and a discount family gets the engine's price."""
    document = piece(create(wire, ORDER, [line("ALB0001", "10")], Tiers="C0000001"))

    (only,) = document["lines"]
    assert (only["pub"], only["rem1"], only["rem2"], only["rem3"]) == (
        "10.00",
        "5.00",
        "2.00",
        "0.00",
    )
    assert (only["punet"], only["mtht"]) == ("9.31", "93.10")
    assert (document["htmt"], document["tvamt"], document["ttcmt"]) == (
        "93.10",
        "18.62",
        "111.72",
    )


def test_explicit_price_and_line_discounts_override_the_engine(wire: Wire) -> None:
    """PubHt replaces the gross price; imouvcliretb replaces the computed discounts."""
    data = {
        "ient": {"PiCod": ORDER, "Tiers": "C0000001", "PiDt": DAY},
        "imouvtb": [
            line("ALB0001", "3", PubHt="20"),
            line("ALB0001", "1", PubHt="20.00"),
        ],
        "imouvcliretb": [{"imouvclire": {"EnrNo": "1", "Rem1": "10", "Rem2": "5"}}],
    }

    document = piece(wire.json_action("integration_piece", data))

    assert [
        (x["pub"], x["rem1"], x["rem2"], x["punet"], x["mtht"])
        for x in document["lines"]
    ] == [
        ("20.00", "10.00", "5.00", "17.10", "51.30"),
        ("20.00", "5.00", "2.00", "18.62", "18.62"),
    ]
    assert (document["htmt"], document["tvamt"], document["ttcmt"]) == (
        "69.92",
        "13.98",
        "83.90",
    )


def test_your_reference_is_unique_per_type_when_the_check_is_on(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """With PcePiRefCtrFl 2 a second order under the same reference is refused."""
    data = {
        "ipar": {"PcePiRefCtrFl": "2"},
        "ient": {"PiCod": ORDER, "Tiers": "C0000002", "PiRef": "SHOP-1"},
        "imouvtb": [line("ALB0001", "1")],
    }
    first = wire.json_action("integration_piece", data)
    second = wire.json_action("integration_piece", data)

    assert piece(first)["prefpino"] == "CC00000001"
    assert refused(second) == (
        "3",
        "ient.PiRef: your reference 'SHOP-1' is already used by order CC00000001",
    )
    assert len(divalto_simulator.control.table("ENT", PIREF="SHOP-1")) == 1
    (logged,) = divalto_simulator.control.requests(
        reference="SHOP-1", outcome="rejected"
    )
    assert (logged["action"], logged["resultcode"], logged["document"]) == (
        "integration_piece",
        "3",
        None,
    )


def test_your_reference_may_repeat_when_the_check_is_off_or_unset(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """With PcePiRefCtrFl 1, or without it (default off), references may repeat."""
    with_flag = {
        "ipar": {"PcePiRefCtrFl": "1"},
        "ient": {"PiCod": ORDER, "Tiers": "C0000002", "PiRef": "SHOP-1"},
        "imouvtb": [line("ALB0001", "1")],
    }
    without_flag = {key: value for key, value in with_flag.items() if key != "ipar"}

    first = wire.json_action("integration_piece", with_flag)
    second = wire.json_action("integration_piece", with_flag)
    third = wire.json_action("integration_piece", without_flag)

    assert [piece(x)["prefpino"] for x in (first, second, third)] == [
        "CC00000001",
        "CC00000002",
        "CC00000003",
    ]
    assert len(divalto_simulator.control.table("ENT", PIREF="SHOP-1")) == 3


def test_the_same_reference_on_another_type_passes_the_check(wire: Wire) -> None:
    """Uniqueness of your reference holds among documents of one type only."""
    data = {
        "ipar": {"PcePiRefCtrFl": "2"},
        "ient": {"PiCod": ORDER, "Tiers": "C0000002", "PiRef": "SHOP-1"},
        "imouvtb": [line("PORT", "1")],
    }
    order = wire.json_action("integration_piece", data)
    data["ient"]["PiCod"] = QUOTE
    quote = wire.json_action("integration_piece", data)

    assert (piece(order)["prefpino"], piece(quote)["prefpino"]) == (
        "CC00000001",
        "DV00000001",
    )


def test_every_unknown_object_of_a_document_is_named_at_once(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Unknown customer, depots, currency, payment term, article, sub-reference and
    VAT code are all reported in one answer with resultcode 2."""
    result = create(
        wire,
        ORDER,
        [
            line("XYZ", "1"),
            line("ALB0001", "1", Depo="9", TvaCod="7"),
            line("BLO0001", "1", Sref1="XL", Sref2="VERT"),
        ],
        Tiers="C0009999",
        Depo="8",
        Dev="XXX",
        RegCod="60J",
    )

    assert refused(result) == (
        "2",
        "ient.Tiers: customer 'C0009999' not found; "
        "ient.Depo: depot '8' not found; "
        "ient.Dev: currency 'XXX' not found; "
        "ient.RegCod: payment term '60J' not found; "
        "imouvtb[1].imouv.Ref: article 'XYZ' not found; "
        "imouvtb[2].imouv.Depo: depot '9' not found; "
        "imouvtb[2].imouv.TvaCod: VAT code '7' not found; "
        "imouvtb[3].imouv.Sref1: Sous référence inexistante: "
        "'XL/VERT' of article 'BLO0001'",
    )
    assert divalto_simulator.control.table("ENT") == []
    assert divalto_simulator.control.table("MOUV") == []


def test_a_request_that_does_not_conform_is_resultcode_1_with_every_problem(
    wire: Wire,
) -> None:
    """Missing and mistyped fields win over unknown objects, and all are named."""
    result = wire.json_action(
        "integration_piece",
        {
            "ient": {"PiCod": "9", "Tiers": ["C0000002"], "PiDt": "20260231"},
            "imouvtb": [
                {"imouv": {"Ref": "ALB0001"}},
                line("ALB0001", "0"),
                line("ALB0001", "1.2345"),
                line("NOPE", "abc", PubHt="-1"),
                line("BLO0001", "1"),
                {"line": {}},
            ],
        },
    )

    assert refused(result) == (
        "1",
        "ient.PiCod: unknown document type '9'; "
        "ient.Tiers: text expected, got a list; "
        "ient.PiDt: date YYYYMMDD expected, got '20260231'; "
        "imouvtb[1].imouv.Qte: is required; "
        "imouvtb[2].imouv.Qte: must be greater than 0, got 0; "
        "imouvtb[3].imouv.Qte: at most 3 decimals, got 1.2345; "
        "imouvtb[4].imouv.Ref: article 'NOPE' not found; "
        "imouvtb[4].imouv.Qte: decimal number expected, got 'abc'; "
        "imouvtb[4].imouv.PubHt: must be at least 0 and below 1000000000000; "
        "imouvtb[5].imouv.Sref1: Sous-réf obligatoire for article 'BLO0001'; "
        "imouvtb[6]: object {'imouv': {...}} expected",
    )


def test_a_document_needs_a_header_and_lines(wire: Wire) -> None:
    """Without ient nor imouvtb, both are named as required."""
    result = wire.json_action("integration_piece", {"ipar": {}})

    assert refused(result) == (
        "1",
        "ient: is required; ient.PiCod: is required; ient.Tiers: is required; "
        "imouvtb: at least one line is required",
    )


def test_lifecycle_quote_order_partial_deliveries_then_invoices(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A quote becomes an order, delivered in two parts, each part invoiced, with
    states, transferred quantities and stock following each step."""
    quote = piece(
        create(
            wire,
            QUOTE,
            [line("ALB0001", "10"), line("CAF0001", "4")],
            PiRef="SHOP-7",
        )
    )
    order = piece(transfer(wire, QUOTE, quote["prefpino"], ORDER))
    assert (order["prefpino"], order["piref"], order["origin"]) == (
        "CC00000001",
        "SHOP-7",
        {"picod": QUOTE, "pino": "00000001", "prefpino": "DV00000001"},
    )
    assert header(divalto_simulator, "DV00000001")["CE4"] == "9"
    assert transferred(divalto_simulator, "DV00000001") == ["10", "4"]

    first = transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "4"))
    assert [(x["ref"], x["qte"]) for x in piece(first)["lines"]] == [("ALB0001", "4")]
    assert first["result"]["response"]["source"] == {
        "picod": ORDER,
        "pino": "00000001",
        "prefpino": "CC00000001",
        "ce4": "1",
        "version": "2",
    }
    assert transferred(divalto_simulator, "CC00000001") == ["4", "0"]
    assert stock(divalto_simulator, "ALB0001") == "116"
    assert stock(divalto_simulator, "CAF0001") == "40"

    rest = piece(transfer(wire, ORDER, "00000001", DELIVERY))
    assert rest["prefpino"] == "BL00000002"
    assert [(x["ref"], x["qte"]) for x in rest["lines"]] == [
        ("ALB0001", "6"),
        ("CAF0001", "4"),
    ]
    assert header(divalto_simulator, "CC00000001")["CE4"] == "9"
    assert header(divalto_simulator, "CC00000001")["VERSION"] == 3
    assert transferred(divalto_simulator, "CC00000001") == ["10", "4"]
    assert stock(divalto_simulator, "ALB0001") == "110"
    assert stock(divalto_simulator, "CAF0001") == "36"

    invoices = [
        piece(transfer(wire, DELIVERY, number, INVOICE))
        for number in ("BL00000001", "BL00000002")
    ]
    assert [(x["prefpino"], x["htmt"], x["ttcmt"]) for x in invoices] == [
        ("FA00000001", "50.00", "60.00"),
        ("FA00000002", "214.60", "257.52"),
    ]
    assert header(divalto_simulator, "BL00000002")["CE4"] == "9"
    assert stock(divalto_simulator, "ALB0001") == "110"
    assert stock(divalto_simulator, "CAF0001") == "36"


def test_order_straight_to_invoice_takes_stock_out(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An invoice made from an order, with no delivery note, takes the stock out."""
    create(wire, ORDER, [line("ALB0001", "7"), line("PORT", "1", PubHt="9.90")])

    invoice = piece(transfer(wire, ORDER, "CC00000001", INVOICE))

    assert (invoice["prefpino"], invoice["htmt"]) == ("FA00000001", "97.40")
    assert stock(divalto_simulator, "ALB0001") == "113"
    assert divalto_simulator.control.table("STOCK", REF="PORT") == []


def test_direct_delivery_note_and_invoice_take_stock_out(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A delivery note or an invoice created directly takes its stock out."""
    create(wire, DELIVERY, [line("ALB0001", "5"), line("ALB0001", "2.5")])
    create(wire, INVOICE, [line("BLO0001", "3", Sref1="L", Sref2="BLEU")])
    create(wire, ORDER, [line("CAF0001", "9")])

    assert stock(divalto_simulator, "ALB0001") == "112.5"
    assert stock(divalto_simulator, "BLO0001", SREF1="L", SREF2="BLEU") == "0"
    assert stock(divalto_simulator, "CAF0001") == "40"


def test_a_delivery_beyond_the_stock_is_refused_and_changes_nothing(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Every shortage is named with asked and available quantities; nothing moves."""
    create(
        wire,
        ORDER,
        [
            line("ALB0001", "100"),
            line("BLO0001", "10", Sref1="XL", Sref2="BLEU"),
            line("ALB0001", "30"),
        ],
    )

    result = transfer(wire, ORDER, "CC00000001", DELIVERY)

    assert refused(result) == (
        "3",
        "not enough stock of article 'ALB0001' in depot '1': asked 130, "
        "available 120; not enough stock of article 'BLO0001' (XL/BLEU) in "
        "depot '1': asked 10, available 8",
    )
    assert stock(divalto_simulator, "ALB0001") == "120"
    assert stock(divalto_simulator, "BLO0001", SREF1="XL", SREF2="BLEU") == "8"
    assert (header(divalto_simulator, "CC00000001")["CE4"]) == "1"
    assert header(divalto_simulator, "CC00000001")["VERSION"] == 1
    assert transferred(divalto_simulator, "CC00000001") == ["0", "0", "0"]
    assert divalto_simulator.control.table("ENT", PICOD=DELIVERY) == []
    delivery = piece(create(wire, DELIVERY, [line("ALB0001", "1")]))
    assert delivery["prefpino"] == "BL00000001"


def test_direct_delivery_beyond_stock_is_refused(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A depot without a stock row has nothing available."""
    result = create(wire, DELIVERY, [line("CAF0001", "1", Depo="2")])

    assert refused(result) == (
        "3",
        "not enough stock of article 'CAF0001' in depot '2': asked 1, available 0",
    )
    assert divalto_simulator.control.table("ENT") == []


def test_transfer_beyond_what_remains_or_of_a_transferred_document_is_refused(
    wire: Wire,
) -> None:
    """A line gives at most what remains; a transferred document gives nothing."""
    create(wire, ORDER, [line("ALB0001", "5"), line("CAF0001", "1")])

    too_much = transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "6"), (3, "1"))
    assert refused(too_much) == (
        "2",
        "imouvtb[1].imouv.Qte: line 1 of order CC00000001 has 5 left, asked 6; "
        "imouvtb[2].imouv.EnrNo: line 3 not found in order CC00000001 or named "
        "twice",
    )
    piece(transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "5")))
    nothing_left = transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "1"))
    assert refused(nothing_left) == (
        "3",
        "imouvtb[1].imouv.EnrNo: line 1 of order CC00000001 has nothing left",
    )
    piece(transfer(wire, ORDER, "CC00000001", DELIVERY))
    again = transfer(wire, ORDER, "CC00000001", DELIVERY)
    assert refused(again) == (
        "3",
        "order CC00000001 cannot be transferred: its state is '9' (transferred)",
    )


def test_transfers_only_go_forward(wire: Wire) -> None:
    """An order cannot become a quote, nor a credit note come from one."""
    create(wire, ORDER, [line("PORT", "1")])

    backwards = transfer(wire, ORDER, "CC00000001", QUOTE)
    sideways = transfer(wire, ORDER, "CC00000001", CREDIT_NOTE)

    assert refused(backwards) == (
        "3",
        "ient.PiCodDest: order CC00000001 cannot be transferred into a new quote",
    )
    assert refused(sideways) == (
        "3",
        "ient.PiCodDest: order CC00000001 cannot be transferred into a new credit note",
    )


def test_transfer_from_an_unknown_document_is_not_found(wire: Wire) -> None:
    """A source that does not exist is resultcode 2 naming it."""
    result = transfer(wire, ORDER, "CC00000042", DELIVERY)

    assert refused(result) == ("2", "ient.PiNo: order 'CC00000042' not found")


def test_transfer_on_a_stale_version_is_a_conflict(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A transfer naming a version that changed since is refused."""
    create(wire, ORDER, [line("ALB0001", "5")])
    piece(transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "2"), Version="1"))

    stale = transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "2"), Version="1")

    assert refused(stale) == (
        "3",
        "version conflict on order CC00000001: current version 2, given 1",
    )
    assert transferred(divalto_simulator, "CC00000001") == ["2"]


def test_credit_notes_never_exceed_the_invoice_total(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A partial credit note passes; one beyond what remains is refused; the exact
    remainder passes."""
    invoice = piece(create(wire, INVOICE, [line("ALB0001", "10")]))
    assert (invoice["htmt"], invoice["tvamt"], invoice["ttcmt"]) == (
        "125.00",
        "25.00",
        "150.00",
    )

    def credit(quantity: str) -> dict[str, Any]:
        lines = [line("ALB0001", quantity, PubHt="12.50")]
        return create(wire, CREDIT_NOTE, lines, PiNoOrig="FA00000001")

    first = piece(credit("4"))
    assert (first["prefpino"], first["ttcmt"], first["origin"]["prefpino"]) == (
        "AV00000001",
        "60.00",
        "FA00000001",
    )
    assert refused(credit("8")) == (
        "3",
        "credit note exceeds invoice FA00000001: total 150.00, "
        "already credited 60.00, asked 120.00",
    )
    last = piece(credit("6"))
    assert (last["prefpino"], last["ttcmt"]) == ("AV00000002", "90.00")
    assert refused(credit("0.001")) == (
        "3",
        "credit note exceeds invoice FA00000001: total 150.00, "
        "already credited 150.00, asked 0.01",
    )
    row = header(divalto_simulator, "FA00000001")
    assert (row["VERSION"], row["CE4"]) == (3, "1")
    assert len(divalto_simulator.control.table("ENT", PICOD=CREDIT_NOTE)) == 2
    assert stock(divalto_simulator, "ALB0001") == "110"


def test_a_credit_note_without_lines_credits_the_whole_invoice(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Without lines, a credit note copies every line of its invoice, once."""
    create(wire, INVOICE, [line("ALB0001", "3"), line("CAF0001", "1", TvaCod="2")])

    whole = piece(create(wire, CREDIT_NOTE, [], PiNoOrig="FA00000001", Tiers=""))
    again = create(wire, CREDIT_NOTE, [], PiNoOrig="00000001")

    assert (whole["tiers"], whole["htmt"], whole["tvamt"], whole["ttcmt"]) == (
        "C0000002",
        "72.40",
        "9.42",
        "81.82",
    )
    assert [(x["ref"], x["qte"], x["mtht"]) for x in whole["lines"]] == [
        ("ALB0001", "3", "37.50"),
        ("CAF0001", "1", "34.90"),
    ]
    assert refused(again) == (
        "3",
        "credit note exceeds invoice FA00000001: total 81.82, "
        "already credited 81.82, asked 81.82",
    )
    state = wire.json_action("etat_piece", {"ient": {"PiCod": INVOICE, "PiNo": "1"}})
    assert refused(state) == ("2", "ient.PiNo: invoice '1' not found")
    invoice = piece(
        wire.json_action("etat_piece", {"ient": {"PiCod": INVOICE, "PiNo": "00000001"}})
    )
    assert (invoice["credited"], invoice["credit_notes"], invoice["version"]) == (
        "81.82",
        [{"picod": CREDIT_NOTE, "pino": "00000001", "prefpino": "AV00000001"}],
        "2",
    )


def test_credit_note_reference_problems_are_named(wire: Wire) -> None:
    """A credit note needs an existing invoice of the same customer."""
    create(wire, INVOICE, [line("PORT", "1", PubHt="10")])

    missing = create(wire, CREDIT_NOTE, [line("PORT", "1")])
    unknown = create(wire, CREDIT_NOTE, [line("PORT", "1")], PiNoOrig="FA00000009")
    other = create(wire, CREDIT_NOTE, [], PiNoOrig="FA00000001", Tiers="C0000003")
    not_a_credit = create(wire, ORDER, [line("PORT", "1")], PiNoOrig="FA00000001")

    assert refused(missing) == ("1", "ient.PiNoOrig: is required")
    assert refused(unknown) == ("2", "ient.PiNoOrig: invoice 'FA00000009' not found")
    assert refused(other) == (
        "3",
        "ient.Tiers: customer 'C0000003' is not the customer of invoice "
        "FA00000001 ('C0000002')",
    )
    assert refused(not_a_credit) == (
        "1",
        "ient.PiNoOrig: only a credit note references an invoice",
    )


def test_cancelling_an_order_checks_its_version_and_blocks_transfers(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A stale cancel conflicts; a cancelled order cannot be transferred."""
    create(wire, ORDER, [line("ALB0001", "2")])

    def cancel(version: str) -> dict[str, Any]:
        ient = {"PiCod": ORDER, "PiNo": "CC00000001", "Version": version}
        return wire.json_action("annulation_piece", {"ient": ient})

    stale = cancel("0")
    done = piece(cancel("1"))
    late = transfer(wire, ORDER, "CC00000001", DELIVERY)

    assert refused(stale) == (
        "3",
        "version conflict on order CC00000001: current version 1, given 0",
    )
    assert (done["ce4"], done["version"]) == ("2", "2")
    assert refused(late) == (
        "3",
        "order CC00000001 cannot be transferred: its state is '2' (suspended)",
    )
    assert stock(divalto_simulator, "ALB0001") == "120"


def test_only_an_untouched_quote_or_order_can_be_cancelled(wire: Wire) -> None:
    """Invoices and partly transferred orders refuse a cancel."""
    create(wire, INVOICE, [line("PORT", "1")])
    create(wire, ORDER, [line("ALB0001", "2")])
    transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "1"))

    invoice = wire.json_action(
        "annulation_piece",
        {"ient": {"PiCod": INVOICE, "PiNo": "FA00000001", "Version": "1"}},
    )
    order = wire.json_action(
        "annulation_piece",
        {"ient": {"PiCod": ORDER, "PiNo": "CC00000001", "Version": "2"}},
    )
    no_version = wire.json_action(
        "annulation_piece", {"ient": {"PiCod": ORDER, "PiNo": "CC00000001"}}
    )

    assert refused(invoice) == (
        "3",
        "invoice FA00000001 cannot be cancelled: only a quote or an order can",
    )
    assert refused(order) == (
        "3",
        "order CC00000001 cannot be cancelled: part of it was transferred",
    )
    assert refused(no_version) == ("1", "ient.Version: is required")


def test_document_state_by_number_or_by_reference(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The state names header, totals, version, lines and later documents."""
    create(wire, ORDER, [line("ALB0001", "4"), line("PORT", "1")], PiRef="WEB-9")
    transfer(wire, ORDER, "CC00000001", DELIVERY, (1, "3"))

    by_number = piece(
        wire.json_action("etat_piece", {"ient": {"PiCod": ORDER, "PiNo": "00000001"}})
    )
    by_reference = piece(wire.json_action("etat_piece", {"ient": {"PiRef": "WEB-9"}}))
    delivery = piece(
        wire.json_action("etat_piece", {"ient": {"PiRef": "WEB-9", "PiCod": DELIVERY}})
    )

    assert by_number == by_reference
    assert (by_number["ce4"], by_number["version"], by_number["ttcmt"]) == (
        "1",
        "2",
        "60.00",
    )
    assert [(x["ref"], x["qte"], x["qtetrf"]) for x in by_number["lines"]] == [
        ("ALB0001", "4", "3"),
        ("PORT", "1", "0"),
    ]
    assert by_number["transferred_into"] == [
        {"picod": DELIVERY, "pino": "00000001", "prefpino": "BL00000001"}
    ]
    assert (delivery["prefpino"], delivery["origin"]["prefpino"]) == (
        "BL00000001",
        "CC00000001",
    )
    (logged,) = divalto_simulator.control.requests(
        action="etat_piece", document="BL00000001"
    )
    assert (logged["outcome"], logged["reference"]) == ("ok", "WEB-9")


def test_document_state_of_an_unknown_document_is_not_found(wire: Wire) -> None:
    """Unknown numbers and references are resultcode 2; no key at all is 1."""
    by_number = wire.json_action(
        "etat_piece", {"ient": {"PiCod": ORDER, "PiNo": "CC00000001"}}
    )
    by_reference = wire.json_action(
        "etat_piece", {"ient": {"PiRef": "NONE", "PiCod": QUOTE}}
    )
    nothing = wire.json_action("etat_piece", {"ient": {"PiCod": ORDER}})

    assert refused(by_number) == ("2", "ient.PiNo: order 'CC00000001' not found")
    assert refused(by_reference) == (
        "2",
        "ient.PiRef: no quote with your reference 'NONE'",
    )
    assert refused(nothing) == ("1", "ient.PiNo: is required")


def move(wire: Wire, **fields: str) -> dict[str, Any]:
    return wire.json_action("mouvement_stock", {"istock": fields})


def test_stock_entries_and_exits_change_the_physical_stock(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """An entry adds, an exit subtracts, a new place gets a stock row."""
    entry = move(wire, Ref="ALB0001", Depo="1", Qte="5", Sens="E", Motif="inventory")
    exit_ = move(wire, Ref="ALB0001", Depo="1", Qte="25.5", Sens="S", Motif="breakage")
    new_place = move(
        wire,
        Ref="BLO0001",
        Sref1="L",
        Sref2="BLEU",
        Depo="2",
        Qte="4",
        Sens="e",
        Motif="transfer in",
    )

    assert entry["result"]["response"]["stock"] == {
        "ref": "ALB0001",
        "sref1": "",
        "sref2": "",
        "depo": "1",
        "sens": "E",
        "qte": "5",
        "motif": "inventory",
        "qtestk_before": "120",
        "qtestk": "125",
    }
    assert exit_["result"]["response"]["stock"]["qtestk"] == "99.5"
    assert new_place["result"]["response"]["stock"]["qtestk"] == "4"
    assert stock(divalto_simulator, "ALB0001") == "99.5"
    assert stock(divalto_simulator, "BLO0001", "2", SREF1="L", SREF2="BLEU") == "4"


def test_a_stock_exit_beyond_the_physical_stock_is_refused(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The refusal names article, depot, asked and available; nothing moves."""
    beyond = move(wire, Ref="ALB0001", Depo="2", Qte="16", Sens="S", Motif="loss")
    service = move(wire, Ref="PORT", Qte="1", Sens="E", Motif="none")
    malformed = move(wire, Ref="NOPE", Depo="5", Qte="-2", Sens="X")

    assert refused(beyond) == (
        "3",
        "not enough stock of article 'ALB0001' in depot '2': asked 16, available 15",
    )
    assert refused(service) == ("3", "istock.Ref: article 'PORT' is not stocked")
    assert refused(malformed) == (
        "1",
        "istock.Ref: article 'NOPE' not found; istock.Depo: depot '5' not found; "
        "istock.Qte: must be greater than 0, got -2; "
        "istock.Sens: 'E' (entry) or 'S' (exit) expected, got 'X'; "
        "istock.Motif: is required",
    )
    assert stock(divalto_simulator, "ALB0001", "2") == "15"
