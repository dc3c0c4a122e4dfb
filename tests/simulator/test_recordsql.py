"""RecordSql reads over the wire: values, paging, order, cases, errors, settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.simulator.catalogue import CATALOGUE, Case, ParameterKind
from divalto.simulator.codes import ErrorCode
from divalto.testing import RunningSimulator, SimulatorControl
from tests.simulator.conftest import Wire

TIERS = "GTRSTIERS.dhoq"
ART = "GTRSART.dhoq"
STOCK = "GTRSSTOCK.dhoq"
PIECE = "GTRSPIECE.dhoq"
CUSTOMERS_IN_998 = 95
"""The four demo customers and the 91 Northwind ones."""

C0000001 = {
    "TABLE_ID": "1",
    "CLI_ID": "1",
    "DOS": "998",
    "TIERS": "C0000001",
    "NOM": "Client démonstration",
    "RUE": "1 rue de la Démo",
    "CPOSTAL": "67000",
    "VIL": "Strasbourg",
    "PAY": "FR",
    "TEL": "",
    "EMAIL": "demo@example.com",
    "TVANO": "FR12345678901",
    "REGCOD": "30J",
    "TARCOD": "GROS",
    "REMCOD": "FID",
    "DEV": "EUR",
    "CE1": "3",
    "REFEXT": "",
    "VERSION": "1",
    "REG_LIB": "30 jours net",
}

ORDER = {
    "ENT_ID": 9001,
    "PICOD": 2,
    "PINO": "00000042",
    "PREFPINO": "CC00000042",
    "TIERS": "C0000001",
    "PIDT": "20260115",
    "PIREF": "SHOP-1001",
    "REGCOD": "30J",
    "HTMT": "134.90",
    "TVAMT": "26.98",
    "TTCMT": "161.88",
}
ORDER_LINES = [
    {
        "MOUV_ID": 9102,
        "ENT_ID": 9001,
        "PICOD": 2,
        "PINO": "00000042",
        "ENRNO": 2,
        "REF": "CAF0001",
        "DES": "Cafetière « Cœur » édition 10 €",
        "QTE": "1",
        "PUB": "34.90",
        "PUNET": "34.90",
        "MTHT": "34.90",
        "TVACOD": "1",
    },
    {
        "MOUV_ID": 9101,
        "ENT_ID": 9001,
        "PICOD": 2,
        "PINO": "00000042",
        "ENRNO": 1,
        "REF": "ALB0001",
        "DES": "Album photo 30 x 30",
        "QTE": "8",
        "PUB": "12.50",
        "PUNET": "12.50",
        "MTHT": "100.00",
        "TVACOD": "1",
        "QTETRF": "8",
    },
]


def records(answer: dict[str, Any]) -> list[dict[str, str]]:
    """The records of a successful answer, checking ``nbrecord`` on the way."""
    assert answer["error"] == 0, answer
    assert answer["nbrecord"] == len(answer["records"])
    return [item["record"] for item in answer["records"]]


def column(answer: dict[str, Any], name: str) -> list[str]:
    return [record[name] for record in records(answer)]


def refusal(answer: dict[str, Any]) -> tuple[int, str]:
    return answer["error"], answer["txterr"]


def seed_order(simulator: RunningSimulator) -> None:
    simulator.control.seed({"ENT": [ORDER], "MOUV": ORDER_LINES})


# The catalogue's values


def test_client_reads_every_field_of_c0000001_as_text(wire: Wire) -> None:
    """Equal_Tiers answers the seeded customer, every value a string."""
    answer = wire.recordsql(
        TIERS, "Client", where="Equal_Tiers", where_parameters="tiers=C0000001"
    )

    assert answer == {
        "error": 0,
        "txterr": "",
        "tablename": "CLI",
        "nbrecord": 1,
        "records": [{"record": C0000001}],
        "infos": "",
    }


def test_article_alb0001_has_its_price_and_vat_rate(wire: Wire) -> None:
    """PK on an article answers its base price and the joined VAT rate."""
    answer = wire.recordsql(ART, "Article", where="PK", where_parameters="ref=ALB0001")

    assert answer["tablename"] == "ART"
    assert records(answer) == [
        {
            "TABLE_ID": "1",
            "ART_ID": "1",
            "DOS": "998",
            "REF": "ALB0001",
            "DES": "Album photo 30 x 30",
            "FAM": "PAPETERIE",
            "UN": "U",
            "TVAART": "1",
            "STFL": "2",
            "SREFFL": "1",
            "PUB": "12.50",
            "TVA_TAUX": "20.00",
        }
    ]


def test_stock_of_alb0001_in_depot_1_is_physical_reserved_and_available(
    wire: Wire,
) -> None:
    """Equal_Ref_Depo answers physical 120, reserved 20 and available 100."""
    answer = wire.recordsql(
        STOCK, "Stock", where="Equal_Ref_Depo", where_parameters="ref=ALB0001;depo=1"
    )

    assert answer["tablename"] == "STOCK"
    assert records(answer) == [
        {
            "TABLE_ID": "1",
            "STOCK_ID": "1",
            "DOS": "998",
            "REF": "ALB0001",
            "SREF1": "",
            "SREF2": "",
            "DEPO": "1",
            "QTESTK": "120",
            "QTERES": "20",
            "QTEDISPO": "100",
            "ART_DES": "Album photo 30 x 30",
            "DEPO_LIB": "Dépôt principal",
        }
    ]


def test_stock_lists_each_sub_reference_and_depot(wire: Wire) -> None:
    """An article with sub-references has one stock record per sref and depot."""
    answer = wire.recordsql(
        STOCK,
        "Stock",
        fields="SREF1;SREF2;DEPO;QTESTK;QTERES;QTEDISPO",
        where="Equal_Ref",
        where_parameters="ref=BLO0001",
        orderby="Par_Ref",
    )

    assert records(answer) == [
        {
            "SREF1": "L",
            "SREF2": "BLEU",
            "DEPO": "1",
            "QTESTK": "3",
            "QTERES": "1",
            "QTEDISPO": "2",
        },
        {
            "SREF1": "XL",
            "SREF2": "BLEU",
            "DEPO": "1",
            "QTESTK": "8",
            "QTERES": "0",
            "QTEDISPO": "8",
        },
        {
            "SREF1": "XL",
            "SREF2": "ROUGE",
            "DEPO": "2",
            "QTESTK": "0",
            "QTERES": "0",
            "QTEDISPO": "0",
        },
    ]


def test_sub_references_of_an_article_come_in_code_order(wire: Wire) -> None:
    """SousRef lists BLO0001's three variants with the article's label."""
    answer = wire.recordsql(
        ART,
        "SousRef",
        fields="REF;SREF1;SREF2;ART_DES",
        where="Equal_Ref",
        where_parameters="ref=BLO0001",
        orderby="Par_Code",
    )

    assert answer["tablename"] == "SART"
    assert records(answer) == [
        {
            "REF": "BLO0001",
            "SREF1": sref1,
            "SREF2": sref2,
            "ART_DES": "Blouson mi-saison",
        }
        for sref1, sref2 in (("L", "BLEU"), ("XL", "BLEU"), ("XL", "ROUGE"))
    ]


def test_document_header_is_found_by_your_reference_and_by_number(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Entete finds a seeded order by PiRef, by PiCod and PiNo, and by customer."""
    seed_order(divalto_simulator)

    by_reference = wire.recordsql(
        PIECE, "Entete", where="Equal_PiRef", where_parameters="piref=SHOP-1001"
    )
    by_number = wire.recordsql(
        PIECE, "Entete", where="Equal_Piece", where_parameters="picod=2;pino=00000042"
    )
    by_customer = wire.recordsql(
        PIECE,
        "Entete",
        fields="PREFPINO",
        where="Equal_Tiers_PiCod",
        where_parameters="tiers=C0000001;picod=2",
    )

    assert by_reference["tablename"] == "ENT"
    assert records(by_reference) == [
        {
            "TABLE_ID": "9001",
            "ENT_ID": "9001",
            "DOS": "998",
            "ETB": "",
            "PICOD": "2",
            "PINO": "00000042",
            "PREFPINO": "CC00000042",
            "TIERS": "C0000001",
            "PIDT": "20260115",
            "PIREF": "SHOP-1001",
            "CE4": "1",
            "DEV": "EUR",
            "DEPO": "1",
            "REGCOD": "30J",
            "HTMT": "134.90",
            "TVAMT": "26.98",
            "TTCMT": "161.88",
            "ORIG_ENT_ID": "",
            "VERSION": "1",
            "CLI_NOM": "Client démonstration",
        }
    ]
    assert records(by_number) == records(by_reference)
    assert records(by_customer) == [{"PREFPINO": "CC00000042"}]


def test_document_lines_come_in_line_order_with_their_header(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Mouvement answers a document's lines by ENT_ID in ENRNO order."""
    seed_order(divalto_simulator)

    answer = wire.recordsql(
        PIECE,
        "Mouvement",
        where="Equal_Ent_ID",
        where_parameters="ent_id=9001",
        orderby="Par_Ligne",
    )

    assert answer["tablename"] == "MOUV"
    first, second = records(answer)
    assert first == {
        "TABLE_ID": "9101",
        "MOUV_ID": "9101",
        "DOS": "998",
        "ENT_ID": "9001",
        "PICOD": "2",
        "PINO": "00000042",
        "ENRNO": "1",
        "REF": "ALB0001",
        "SREF1": "",
        "SREF2": "",
        "DES": "Album photo 30 x 30",
        "DEPO": "1",
        "QTE": "8",
        "PUB": "12.50",
        "REM1": "0",
        "REM2": "0",
        "REM3": "0",
        "PUNET": "12.50",
        "MTHT": "100.00",
        "TVACOD": "1",
        "QTETRF": "8",
        "ORIG_MOUV_ID": "",
        "ENT_TIERS": "C0000001",
        "ENT_PIREF": "SHOP-1001",
        "ENT_PIDT": "20260115",
    }
    assert (second["ENRNO"], second["REF"], second["MTHT"]) == ("2", "CAF0001", "34.90")


def test_document_lines_are_found_through_the_headers_reference(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Equal_PiRef on Mouvement filters on the joined header's reference."""
    seed_order(divalto_simulator)

    answer = wire.recordsql(
        PIECE,
        "Mouvement",
        fields="ENRNO;REF",
        where="Equal_PiRef",
        where_parameters="piref=SHOP-1001",
        orderby="Par_Piece",
        count="1",
        offset="1",
    )

    assert records(answer) == [{"ENRNO": "2", "REF": "CAF0001"}]


def test_fields_select_and_order_the_output_in_every_accepted_spelling(
    wire: Wire,
) -> None:
    """``;`` or ``,`` separate fields, in any case; blank, space and ``*`` mean all."""
    chosen = [
        records(
            wire.recordsql(
                TIERS,
                "Client",
                fields=fields,
                where="PK",
                where_parameters="tiers=C0000001",
            )
        )
        for fields in (
            "NOM;TIERS;REG_LIB",
            "nom, tiers ,reg_lib",
            "NOM;TIERS;NOM;REG_LIB",
        )
    ]
    everything = [
        records(
            wire.recordsql(
                TIERS,
                "Client",
                fields=fields,
                where="PK",
                where_parameters="tiers=C0000001",
            )
        )
        for fields in ("", " ", "*")
    ]

    expected = {
        "NOM": "Client démonstration",
        "TIERS": "C0000001",
        "REG_LIB": "30 jours net",
    }
    for found in chosen:
        assert found == [expected]
        assert list(found[0]) == ["NOM", "TIERS", "REG_LIB"]
    assert everything == [[C0000001]] * 3


def test_the_request_log_names_the_query_in_its_catalogue_spelling(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Names match without regard to case; the log uses the catalogue's spelling."""
    answer = wire.recordsql(
        "gtrsart.DHOQ", "article", where="pk", where_parameters="REF=ALB0001"
    )

    assert column(answer, "REF") == ["ALB0001"]
    assert divalto_simulator.control.requests(route="recordsql")[-1]["action"] == (
        "GTRSART.dhoq/Article"
    )


# Paging


def test_pages_cover_every_customer_once_and_end_with_a_short_page(wire: Wire) -> None:
    """Pages of 10 in code order give 9 full pages and a last one of 5."""
    whole = column(
        wire.recordsql(TIERS, "Client", fields="TIERS", orderby="Par_Code"), "TIERS"
    )
    pages = [
        column(
            wire.recordsql(
                TIERS,
                "Client",
                fields="TIERS",
                orderby="Par_Code",
                offset=offset,
                count=10,
            ),
            "TIERS",
        )
        for offset in range(0, 100, 10)
    ]

    assert len(whole) == CUSTOMERS_IN_998
    assert [len(page) for page in pages] == [10] * 9 + [5]
    assert [tiers for page in pages for tiers in page] == whole
    assert whole == sorted(whole)


def test_an_exact_multiple_ends_with_an_empty_page(wire: Wire) -> None:
    """Four demo customers in pages of two: two full pages, then none."""
    pages = [
        column(
            wire.recordsql(
                TIERS,
                "Client",
                where="Like_Tiers",
                where_parameters="tiers=C000000",
                orderby="Par_Code",
                offset=offset,
                count=2,
            ),
            "TIERS",
        )
        for offset in (0, 2, 4)
    ]

    assert pages == [["C0000001", "C0000002"], ["C0000003", "C0000004"], []]


def test_a_short_last_page_holds_the_remainder(wire: Wire) -> None:
    """Four demo customers in pages of three: three, then one."""
    pages = [
        column(
            wire.recordsql(
                TIERS,
                "Client",
                fields="TIERS",
                where="Like_Tiers",
                where_parameters="tiers=C000000",
                offset=offset,
                count=3,
            ),
            "TIERS",
        )
        for offset in (0, 3)
    ]

    assert pages == [["C0000001", "C0000002", "C0000003"], ["C0000004"]]


def test_an_offset_beyond_the_end_answers_zero_records(wire: Wire) -> None:
    """Reading past the last customer is no error, just an empty page."""
    answer = wire.recordsql(TIERS, "Client", offset=5000, count=10)

    assert answer["error"] == 0
    assert answer["nbrecord"] == 0
    assert answer["records"] == []


def test_offset_and_count_may_be_json_numbers(wire: Wire) -> None:
    """Paging bounds are accepted as integers as well as strings."""
    body = {
        "dhoq": TIERS,
        "recordsql": "Client",
        "access_token": wire.token,
        "fields": "TIERS",
        "orderby": "Par_Code",
        "offset": 1,
        "count": 2,
    }

    answer = wire.post("RecordSql/Read", body)

    assert column(answer, "TIERS") == ["C0000002", "C0000003"]


def test_without_count_a_page_holds_the_default_size(wire: Wire) -> None:
    """No ``count`` reads up to 10000 records, here every customer."""
    answer = wire.recordsql(TIERS, "Client", fields="TIERS", count=" ", offset=" ")

    assert answer["nbrecord"] == CUSTOMERS_IN_998


# Order


def test_the_default_order_is_the_identity(wire: Wire) -> None:
    """Without ORDERBY, records come in TABLE_ID order."""
    identities = [
        int(value) for value in column(wire.recordsql(ART, "Article"), "TABLE_ID")
    ]

    assert identities == sorted(identities)
    assert len(identities) == 83


def test_ties_of_an_orderby_are_broken_by_the_identity(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Two customers with one name keep their TABLE_ID order, page after page."""
    divalto_simulator.control.seed(
        {
            "CLI": [
                {"TIERS": "C0000902", "NOM": "Doublon", "VIL": "Colmar"},
                {"TIERS": "C0000901", "NOM": "Doublon", "VIL": "Colmar"},
            ]
        }
    )
    query = {"where": "Like_Nom", "where_parameters": "nom=Doublon", "fields": "TIERS"}

    by_name = [
        column(
            wire.recordsql(
                TIERS, "Client", orderby="Par_Libelle", offset=offset, count=1, **query
            ),
            "TIERS",
        )
        for offset in (0, 1)
    ]
    by_city = column(
        wire.recordsql(TIERS, "Client", orderby="Par_Ville", **query), "TIERS"
    )
    by_code = column(
        wire.recordsql(TIERS, "Client", orderby="Par_Code", **query), "TIERS"
    )

    assert by_name == [["C0000902"], ["C0000901"]]
    assert by_city == ["C0000902", "C0000901"]
    assert by_code == ["C0000901", "C0000902"]


def test_articles_by_label_and_by_family(wire: Wire) -> None:
    """Par_Libelle sorts by label; Par_Famille by family, then reference."""
    by_label = column(
        wire.recordsql(
            ART,
            "Article",
            fields="DES",
            where="Like_Ref",
            where_parameters="ref=%0001",
            orderby="Par_Libelle",
        ),
        "DES",
    )
    by_family = column(
        wire.recordsql(
            ART,
            "Article",
            fields="REF",
            where="Equal_Fam",
            where_parameters="fam=SERVICE",
            orderby="Par_Famille",
        ),
        "REF",
    )

    assert by_label == [
        "Album photo 30 x 30",
        "Blouson mi-saison",
        "Cafetière « Cœur » édition 10 €",
    ]
    assert by_family == ["FRAIS", "PORT", "REMISE"]


def test_rows_added_during_a_paged_read_come_last_in_identity_order(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A customer created between two pages shows up once, at the end, with a new id."""
    first = records(
        wire.recordsql(
            TIERS, "Client", fields="TABLE_ID;TIERS", orderby="Par_ID", count=50
        )
    )
    divalto_simulator.control.seed({"CLI": [{"TIERS": "C0000999", "NOM": "Nouveau"}]})
    second = records(
        wire.recordsql(
            TIERS,
            "Client",
            fields="TABLE_ID;TIERS",
            orderby="Par_ID",
            offset=50,
            count=50,
        )
    )

    seen = [record["TIERS"] for record in first + second]
    identities = [int(record["TABLE_ID"]) for record in first + second]
    assert len(first) == 50
    assert len(second) == CUSTOMERS_IN_998 + 1 - 50
    assert len(set(seen)) == len(seen)
    assert second[-1]["TIERS"] == "C0000999"
    assert identities[-1] > max(identities[:-1])
    assert identities == sorted(identities)


# HAVING


def test_disponible_min_keeps_stock_at_or_above_the_quantity(wire: Wire) -> None:
    """ALB0001 has 100 available in depot 1 and 15 in depot 2."""

    def depots(qte: str) -> list[str]:
        return column(
            wire.recordsql(
                STOCK,
                "Stock",
                where="Equal_Ref",
                where_parameters="ref=ALB0001",
                having="Disponible_Min",
                having_parameters=f"qte={qte}",
            ),
            "DEPO",
        )

    assert depots("15") == ["1", "2"]
    assert depots("15.01") == ["1"]
    assert depots("100") == ["1"]
    assert depots("100.5") == []


def test_disponible_min_compares_decimals_exactly(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """0.3 physical minus 0.1 reserved is exactly 0.2 available, not a float below."""
    divalto_simulator.control.seed(
        {"STOCK": [{"REF": "CAF0001", "DEPO": "2", "QTESTK": "0.3", "QTERES": "0.1"}]}
    )

    answer = wire.recordsql(
        STOCK,
        "Stock",
        fields="DEPO;QTEDISPO",
        where="Equal_Ref",
        where_parameters="ref=CAF0001",
        having="Disponible_Min",
        having_parameters="qte=0.2",
        orderby="Par_Depot",
    )

    assert records(answer) == [
        {"DEPO": "1", "QTEDISPO": "40"},
        {"DEPO": "2", "QTEDISPO": "0.2"},
    ]


def test_stock_positif_leaves_out_empty_stock(wire: Wire) -> None:
    """BLO0001 XL/ROUGE has no physical stock in depot 2 and is left out."""
    answer = wire.recordsql(
        STOCK,
        "Stock",
        fields="SREF1;SREF2",
        where="Equal_Ref",
        where_parameters="ref=BLO0001",
        having="Stock_Positif",
    )

    assert records(answer) == [
        {"SREF1": "XL", "SREF2": "BLEU"},
        {"SREF1": "L", "SREF2": "BLEU"},
    ]


def test_header_and_line_having_cases(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Montant_Min filters headers on their amount; Reliquat_Positif open lines."""
    seed_order(divalto_simulator)

    def headers(amount: str) -> list[str]:
        return column(
            wire.recordsql(
                PIECE, "Entete", having="Montant_Min", having_parameters=f"mt={amount}"
            ),
            "PREFPINO",
        )

    open_lines = wire.recordsql(
        PIECE,
        "Mouvement",
        fields="REF",
        where="Equal_Piece",
        where_parameters="picod=2;pino=00000042",
        having="Reliquat_Positif",
    )

    assert headers("134.90") == ["CC00000042"]
    assert headers("134.91") == []
    assert column(open_lines, "REF") == ["CAF0001"]


# Parameter values


def test_a_doubled_quote_is_one_quote_in_the_value(wire: Wire) -> None:
    """``L''Atelier d''Anjou`` finds the customer named L'Atelier d'Anjou."""
    answer = wire.recordsql(
        TIERS,
        "Client",
        fields="TIERS;NOM",
        where="Like_Nom",
        where_parameters="nom=L''Atelier d''Anjou",
    )

    assert records(answer) == [{"TIERS": "C0000002", "NOM": "L'Atelier d'Anjou"}]


def test_an_injection_attempt_is_only_a_value_that_matches_nothing(wire: Wire) -> None:
    """``x'' OR ''1''=''1`` is the text x' OR '1'='1, which no customer code is."""
    answer = wire.recordsql(
        TIERS,
        "Client",
        where="Equal_Tiers",
        where_parameters="tiers=x'' OR ''1''=''1",
    )

    assert answer["error"] == 0
    assert answer["records"] == []


def test_a_doubled_separator_is_one_separator_in_the_value(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """``;;`` stands for ``;``, and ``=`` inside a value is kept."""
    divalto_simulator.control.seed(
        {"CLI": [{"TIERS": "C0000950", "NOM": "Dupont; Fils=Cie"}]}
    )

    answer = wire.recordsql(
        TIERS,
        "Client",
        fields="TIERS",
        where="Like_Nom",
        where_parameters="nom=Dupont;; Fils=Cie",
    )
    exact = wire.recordsql(
        TIERS,
        "Client",
        fields="TIERS",
        where="Between_Tiers",
        where_parameters="from=C0000950;to=C0000950",
    )

    assert column(answer, "TIERS") == ["C0000950"]
    assert column(exact, "TIERS") == ["C0000950"]


def test_pairs_a_case_does_not_name_are_ignored(wire: Wire) -> None:
    """Extra pairs, and pairs sent without their case, change nothing."""
    extra = wire.recordsql(
        TIERS,
        "Client",
        fields="TIERS",
        where=" Equal_Tiers ",
        where_parameters="nom=Ignored;tiers=C0000003;",
    )
    orphan = wire.recordsql(
        TIERS,
        "Client",
        fields="TIERS",
        where_parameters="tiers=C0000003",
        having_parameters="qte=1",
        count=2,
    )

    assert column(extra, "TIERS") == ["C0000003"]
    assert column(orphan, "TIERS") == ["C0000001", "C0000002"]


def test_like_takes_a_prefix_or_a_pattern(wire: Wire) -> None:
    """Without ``%`` the value is a prefix; with it, a LIKE pattern."""

    def refs(pattern: str) -> list[str]:
        return column(
            wire.recordsql(
                ART, "Article", where="Like_Ref", where_parameters=f"ref={pattern}"
            ),
            "REF",
        )

    assert refs("BLO") == ["BLO0001"]
    assert refs("%0001") == ["ALB0001", "BLO0001", "CAF0001"]
    assert refs("NW07_") == [f"NW07{digit}" for digit in range(8)]


# Errors

ERRORS = [
    (
        {"dhoq": "GTRSFOU.dhoq", "recordsql": "Fournisseur"},
        20,
        "Dictionary 'GTRSFOU.dhoq' is not authorised for the API",
    ),
    (
        {"dhoq": "GTRSNOPE.dhoq", "recordsql": "Client"},
        21,
        "Unknown dictionary 'GTRSNOPE.dhoq'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Prospect"},
        22,
        "Unknown RecordSql 'Prospect' in dictionary 'GTRSTIERS.dhoq'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "where": "TIERS='C0000001'"},
        23,
        "Unknown WHERE case 'TIERS='C0000001'' for RecordSql 'GTRSTIERS.dhoq/Client'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "orderby": "Par_Code DESC"},
        24,
        "Unknown ORDERBY case 'Par_Code DESC' for RecordSql 'GTRSTIERS.dhoq/Client'",
    ),
    (
        {"dhoq": STOCK, "recordsql": "Stock", "having": "QTESTK > 0"},
        25,
        "Unknown HAVING case 'QTESTK > 0' for RecordSql 'GTRSSTOCK.dhoq/Stock'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "fields": "TIERS;PASSWORD"},
        26,
        "Unknown field 'PASSWORD' for RecordSql 'GTRSTIERS.dhoq/Client'",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "Between_Tiers",
            "where_parameters": "from=C0000001",
        },
        27,
        "WHERE case 'Between_Tiers' needs parameter 'to'",
    ),
    (
        {"dhoq": STOCK, "recordsql": "Stock", "having": "Disponible_Min"},
        27,
        "HAVING case 'Disponible_Min' needs parameter 'qte'",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "Equal_Tiers",
            "where_parameters": "tiers=x' OR '1'='1",
        },
        28,
        "WHERE case 'Equal_Tiers': parameter 'tiers': unbalanced quote "
        "(write a quote as '')",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "ID",
            "where_parameters": "id=1 OR 1=1",
        },
        28,
        "WHERE case 'ID': parameter 'id': '1 OR 1=1' is not an integer",
    ),
    (
        {
            "dhoq": STOCK,
            "recordsql": "Stock",
            "having": "Disponible_Min",
            "having_parameters": "qte=ten",
        },
        28,
        "HAVING case 'Disponible_Min': parameter 'qte': 'ten' is not a decimal number",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "Equal_Tiers",
            "where_parameters": "C0000001",
        },
        28,
        "WHERE case 'Equal_Tiers': 'C0000001' is not a name=value pair",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "Equal_Tiers",
            "where_parameters": "tiers=C0000001;TIERS=C0000002",
        },
        28,
        "WHERE case 'Equal_Tiers': parameter 'TIERS' given twice",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "Like_Nom",
            "where_parameters": "nom=" + "x" * 1001,
        },
        28,
        "WHERE case 'Like_Nom': parameter 'nom': pattern longer than 1000",
    ),
    (
        {
            "dhoq": TIERS,
            "recordsql": "Client",
            "where": "ID",
            "where_parameters": "id=" + "9" * 5000,
        },
        28,
        "WHERE case 'ID': parameter 'id': '" + "9" * 37 + "...' is not an integer",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "offset": "1" * 19},
        29,
        "Field 'offset' must be a non-negative integer, got '1111111111111111111'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "offset": "-1"},
        29,
        "Field 'offset' must be a non-negative integer, got '-1'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "count": "ten"},
        29,
        "Field 'count' must be a non-negative integer, got 'ten'",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "count": "0"},
        29,
        "Field 'count' must be between 1 and 10000, got 0",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "count": "10001"},
        29,
        "Field 'count' must be between 1 and 10000, got 10001",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "offset": 2.5},
        29,
        "Field 'offset' must be a non-negative integer, got 2.5",
    ),
    (
        {"dhoq": " ", "recordsql": "Client"},
        2,
        "Field 'dhoq' is required",
    ),
    (
        {"dhoq": TIERS},
        2,
        "Field 'recordsql' is required",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "fields": ["TIERS", "NOM"]},
        3,
        "Field 'fields' must be a string",
    ),
    (
        {"dhoq": TIERS, "recordsql": "Client", "parameters": "DOS=999"},
        1,
        "Field 'parameters': 'DOS=999' is not a TABLE.FIELD=value pair",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "txterr"),
    ERRORS,
    ids=[ErrorCode(code).name.lower() for _, code, _ in ERRORS],
)
def test_each_refusal_has_its_code_and_names_the_culprit(
    wire: Wire, body: dict[str, Any], code: int, txterr: str
) -> None:
    """A refused read answers error != 0 with a txterr naming what is wrong."""
    answer = wire.post("RecordSql/Read", {**body, "access_token": wire.token})

    assert answer == {"error": code, "txterr": txterr, "infos": ""}


# Dossier


def test_another_dossier_is_never_read(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Rows of dossier 999, even under the same codes, never reach a 998 account."""
    divalto_simulator.control.seed(
        {
            "dossier": "999",
            "CLI": [
                {"TIERS": "C0000001", "NOM": "Autre dossier", "REGCOD": "30J"},
                {"TIERS": "C0000998", "NOM": "Autre dossier bis"},
            ],
            "REG": [{"REGCOD": "30J", "LIB": "Libellé du 999"}],
        }
    )

    same_code = wire.recordsql(
        TIERS,
        "Client",
        where="Equal_Tiers",
        where_parameters="tiers=C0000001",
        parameters="MZ.DOS=999",
    )
    everyone = wire.recordsql(
        TIERS, "Client", fields="DOS;NOM", parameters="MZ.DOS=999"
    )

    assert records(same_code) == [C0000001]
    assert {record["DOS"] for record in records(everyone)} == {"998"}
    assert len(records(everyone)) == CUSTOMERS_IN_998
    assert not [r for r in records(everyone) if r["NOM"].startswith("Autre dossier")]


def test_client_reads_customers_only(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A supplier in CLI (CE1 = 4) is not a Client, even by its identity."""
    divalto_simulator.control.seed(
        {
            "CLI": [
                {"CLI_ID": 7000, "TIERS": "F0000001", "NOM": "Fournisseur", "CE1": "4"}
            ]
        }
    )

    by_code = wire.recordsql(
        TIERS, "Client", where="Equal_Tiers", where_parameters="tiers=F0000001"
    )
    by_identity = wire.recordsql(
        TIERS, "Client", where="ID", where_parameters="id=7000"
    )

    assert records(by_code) == []
    assert records(by_identity) == []


# Every case of the catalogue compiles and runs

_SAMPLES = {
    ParameterKind.TEXT: "C0000001",
    ParameterKind.PATTERN: "C",
    ParameterKind.INTEGER: "1",
    ParameterKind.DECIMAL: "1.5",
}


def _arguments(case: Case) -> str:
    return ";".join(f"{p.name}={_SAMPLES[p.kind]}" for p in case.parameters)


_EVERY_CASE = [
    pytest.param(
        dictionary.name,
        query.name,
        {kind: case.name, f"{kind}_parameters": _arguments(case)},
        id=f"{query.name}-{case.name}",
    )
    for dictionary in CATALOGUE
    if dictionary.name != "GTRSFOU.dhoq"
    for query in dictionary.recordsqls
    for kind, cases in (("where", query.where), ("having", query.having))
    for case in cases
] + [
    pytest.param(
        dictionary.name,
        query.name,
        {"orderby": ordering.name},
        id=f"{query.name}-{ordering.name}",
    )
    for dictionary in CATALOGUE
    if dictionary.name != "GTRSFOU.dhoq"
    for query in dictionary.recordsqls
    for ordering in query.orderby
]


@pytest.mark.parametrize(("dhoq", "name", "fields"), _EVERY_CASE)
def test_every_case_of_the_catalogue_runs(
    wire: Wire, dhoq: str, name: str, fields: dict[str, str]
) -> None:
    """Each WHERE, ORDERBY and HAVING case of each RecordSql answers error 0."""
    answer = wire.recordsql(dhoq, name, **fields)

    assert answer["error"] == 0, answer
    assert answer["nbrecord"] == len(answer["records"])


# Settings


RENAMES = {"GTRSTIERS.dhoq/Client": {"NOM": "RAISON_SOCIALE", "REG_LIB": "LIB_REG"}}


@pytest.fixture(scope="module")
def tenant_like() -> Iterator[Wire]:
    """A simulator set up like a tenant whose dictionaries differ from the default."""
    settings = SimulatorSettings(
        field_renames=RENAMES,
        authorised_dictionaries=("GTRSTIERS.dhoq", "GTRSFOU.dhoq"),
        recordsql_max_count=3,
        recordsql_case_sensitive_names=True,
    )
    with SimulatorServer(settings) as server:
        control = SimulatorControl(server.url)
        wire = Wire(RunningSimulator(server, control))
        try:
            yield wire
        finally:
            wire.close()
            control.close()


def test_a_renamed_field_is_sent_and_selected_under_its_new_name(
    tenant_like: Wire,
) -> None:
    """field_renames changes the wire name, in answers and in ``fields``."""
    whole = tenant_like.recordsql(
        TIERS, "Client", where="PK", where_parameters="tiers=C0000002"
    )
    chosen = tenant_like.recordsql(
        TIERS,
        "Client",
        fields="TIERS;RAISON_SOCIALE;LIB_REG",
        where="PK",
        where_parameters="tiers=C0000002",
    )
    old_name = tenant_like.recordsql(TIERS, "Client", fields="NOM")

    (record,) = records(whole)
    assert record["RAISON_SOCIALE"] == "L'Atelier d'Anjou"
    assert record["LIB_REG"] == "Comptant"
    assert "NOM" not in record
    assert "REG_LIB" not in record
    assert records(chosen) == [
        {
            "TIERS": "C0000002",
            "RAISON_SOCIALE": "L'Atelier d'Anjou",
            "LIB_REG": "Comptant",
        }
    ]
    assert refusal(old_name) == (
        26,
        "Unknown field 'NOM' for RecordSql 'GTRSTIERS.dhoq/Client'",
    )


def test_an_authorised_supplier_dictionary_reads_suppliers_only(
    tenant_like: Wire,
) -> None:
    """Once authorised, GTRSFOU.dhoq/Fournisseur reads third parties with CE1 = 4."""
    control = tenant_like.simulator.control
    control.seed(
        {"CLI": [{"TIERS": "F0000001", "NOM": "Papeterie du Rhin", "CE1": "4"}]}
    )

    answer = tenant_like.recordsql(
        "GTRSFOU.dhoq", "Fournisseur", fields="TIERS;NOM;CE1;REG_LIB"
    )

    assert answer["tablename"] == "CLI"
    assert records(answer) == [
        {"TIERS": "F0000001", "NOM": "Papeterie du Rhin", "CE1": "4", "REG_LIB": ""}
    ]


def test_the_maximum_count_is_a_setting(tenant_like: Wire) -> None:
    """With a maximum of 3, a count of 4 is refused and 3 is read."""
    refused = tenant_like.recordsql(TIERS, "Client", count=4)
    accepted = tenant_like.recordsql(TIERS, "Client", count=3)

    assert refusal(refused) == (29, "Field 'count' must be between 1 and 3, got 4")
    assert len(records(accepted)) == 3


def test_without_a_count_a_page_holds_the_maximum_when_it_is_lower(
    tenant_like: Wire,
) -> None:
    """The default page size is cut to the maximum rather than refused."""
    answer = tenant_like.recordsql(TIERS, "Client", fields="TIERS")

    assert column(answer, "TIERS") == ["C0000001", "C0000002", "C0000003"]


def test_case_sensitive_names_refuse_another_spelling(tenant_like: Wire) -> None:
    """With recordsql_case_sensitive_names, ``client`` is not ``Client``."""
    answer = tenant_like.recordsql(TIERS, "client")
    case = tenant_like.recordsql(TIERS, "Client", where="equal_tiers")

    assert refusal(answer) == (
        22,
        "Unknown RecordSql 'client' in dictionary 'GTRSTIERS.dhoq'",
    )
    assert refusal(case) == (
        23,
        "Unknown WHERE case 'equal_tiers' for RecordSql 'GTRSTIERS.dhoq/Client'",
    )


def test_a_count_above_the_maximum_is_clamped_when_set_so() -> None:
    """With recordsql_clamp_count, a count of 50 reads the maximum of 2."""
    settings = SimulatorSettings(recordsql_max_count=2, recordsql_clamp_count=True)
    with SimulatorServer(settings) as server:
        control = SimulatorControl(server.url)
        wire = Wire(RunningSimulator(server, control))
        try:
            answer = wire.recordsql(TIERS, "Client", fields="TIERS", count=50)
        finally:
            wire.close()
            control.close()

    assert column(answer, "TIERS") == ["C0000001", "C0000002"]


def test_a_rename_of_a_missing_field_is_refused_by_name() -> None:
    """A field_renames entry naming no field of its RecordSql is reported."""
    settings = SimulatorSettings(field_renames={"GTRSART.dhoq/Article": {"PRIX": "PX"}})
    with SimulatorServer(settings) as server:
        control = SimulatorControl(server.url)
        wire = Wire(RunningSimulator(server, control))
        try:
            article = wire.recordsql(ART, "Article")
            customer = wire.recordsql(TIERS, "Client", count=1)
        finally:
            wire.close()
            control.close()

    assert refusal(article) == (
        26,
        "Setting field_renames for 'GTRSART.dhoq/Article' renames unknown field 'PRIX'",
    )
    assert customer["error"] == 0
