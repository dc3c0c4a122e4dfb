"""RecordSql on the client side: query objects, escaping, safe paging, typed records.

Every test but the pure query-object ones reads from the simulator over loopback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from divalto import errors
from divalto.client import AsyncDivalto, Divalto
from divalto.recordsql import (
    AsyncRecords,
    Column,
    Cursor,
    RecordQuery,
    Records,
    RecordSchema,
    decimal,
    escape_value,
    flag,
    integer,
    optional,
    yyyymmdd,
)
from divalto.settings import Profile
from divalto.testing import RunningSimulator

CUSTOMERS = RecordQuery("GTRSTIERS.dhoq", "Client")
ARTICLES = RecordQuery("GTRSART.dhoq", "Article")
BENCH = ARTICLES.select("REF", "DES").where("Like_Ref", ref="BEN")
"""The articles these tests seed, and only them."""


@pytest.fixture
def records(profile: Profile) -> Iterator[Records]:
    with Divalto(profile) as erp:
        yield erp.records


@pytest.fixture
async def async_records(profile: Profile) -> AsyncIterator[AsyncRecords]:
    async with AsyncDivalto(profile) as erp:
        yield erp.records


def _bench(
    numbers: range, *, first_id: int = 100_000, step: int = 1
) -> list[dict[str, Any]]:
    """Articles BEN<number>, with identities from ``first_id`` by ``step``."""
    return [
        {
            "ART_ID": first_id + index * step,
            "REF": f"BEN{number:05d}",
            "DES": f"Bench article {number}",
            "PUB": "1.00",
        }
        for index, number in enumerate(numbers)
    ]


def _seed_articles(sim: RunningSimulator, rows: list[dict[str, Any]]) -> None:
    sim.control.seed({"dossier": "998", "ART": rows})


def _recordsql_calls(sim: RunningSimulator) -> int:
    return len(sim.control.requests(route="recordsql"))


def test_query_objects_are_immutable_values() -> None:
    """Each method returns a new query; the original and its fields never change."""
    base = CUSTOMERS.select("TIERS", "NOM")
    filtered = base.where("Equal_Tiers", tiers="C0000001")
    assert base.where_case is None
    assert filtered.where_case is not None
    assert filtered.fields == ("TIERS", "NOM")
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.fields = ("EMAIL",)  # type: ignore[misc]
    assert filtered == CUSTOMERS.select("TIERS", "NOM").where(
        "Equal_Tiers", tiers="C0000001"
    )


def test_query_writes_the_exact_body() -> None:
    """Fields, cases, escaped parameters, order and page bounds land in their fields."""
    query = (
        RecordQuery("GTRSSTOCK.dhoq", "Stock")
        .select("REF", "DEPO", "QTEDISPO")
        .where("Equal_Ref_Depo", ref="L'A;B", depo=1)
        .order_by("Par_Depot")
        .having("Disponible_Min", qte=Decimal("2.500"))
        .with_parameters({"MZ.DOS": "998"})
    )
    assert query.body(offset=20, count=10) == {
        "dhoq": "GTRSSTOCK.dhoq",
        "recordsql": "Stock",
        "fields": "REF;DEPO;QTEDISPO",
        "where": "Equal_Ref_Depo",
        "where_parameters": "ref=L''A;;B;depo=1",
        "orderby": "Par_Depot",
        "having": "Disponible_Min",
        "having_parameters": "qte=2.500",
        "parameters": "MZ.DOS=998",
        "offset": 20,
        "count": 10,
        "infos": "",
    }


def test_dates_are_written_yyyymmdd_in_parameters() -> None:
    """A date parameter is written as Divalto's YYYYMMDD text."""
    query = RecordQuery("GTRSPIECE.dhoq", "Entete").where(
        "Between_PiDt", **{"from": date(2025, 1, 1), "to": date(2025, 1, 31)}
    )
    assert query.body()["where_parameters"] == "from=20250101;to=20250131"


def test_raw_strings_cannot_smuggle_names() -> None:
    """A field or case name holding a separator or spaces is refused at once."""
    with pytest.raises(ValueError, match="'REF;DES' is not a valid name"):
        ARTICLES.select("REF;DES")
    with pytest.raises(ValueError, match="is not a valid name"):
        ARTICLES.where("Equal_Ref OR 1=1", ref="x")
    with pytest.raises(ValueError, match="is not a valid name"):
        ARTICLES.order_by("Par_Code DESC")


def test_escape_doubles_quotes_and_separators() -> None:
    """Quotes and separators are doubled, and nothing else changes."""
    assert escape_value("x' OR '1'='1") == "x'' OR ''1''=''1"
    assert escape_value("a;b=c") == "a;;b=c"
    assert escape_value("a|b", separator="|") == "a||b"


def test_a_name_with_quotes_finds_its_customer(records: Records) -> None:
    """C0000002 "L'Atelier d'Anjou" is found by its exact name."""
    found = list(records.read(CUSTOMERS.where("Like_Nom", nom="L'Atelier d'Anjou")))
    assert [(row["TIERS"], row["NOM"]) for row in found] == [
        ("C0000002", "L'Atelier d'Anjou")
    ]


def test_an_injection_string_matches_nothing(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """``x' OR '1'='1`` is a name like any other: no customer has it."""
    injected = CUSTOMERS.where("Like_Nom", nom="x' OR '1'='1")
    assert list(records.read(injected)) == []
    assert (
        records.page(CUSTOMERS.where("Equal_Tiers", tiers="x' OR '1'='1")).records == []
    )
    outcomes = {row["outcome"] for row in divalto_simulator.control.requests()}
    assert outcomes == {"ok"}


def test_a_separator_inside_a_value_is_carried(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """A name holding ';' and '=' is found exactly through Equal_Tiers and Like_Nom."""
    divalto_simulator.control.seed(
        {"CLI": [{"TIERS": "C0000900", "NOM": "Dupont; Fils=Cie"}]}
    )
    page = records.page(CUSTOMERS.where("Like_Nom", nom="Dupont; Fils=C"))
    assert [row["TIERS"] for row in page.records] == ["C0000900"]


def test_paging_ends_on_a_short_page(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """250 articles read 50 at a time: all once, in order, in six calls."""
    _seed_articles(divalto_simulator, _bench(range(1, 251)))
    refs = [row["REF"] for row in records.read(BENCH, page_size=50)]
    assert refs == [f"BEN{number:05d}" for number in range(1, 251)]
    # Pages overlap by one: offsets 0, 49, 98, 147, 196 and 245 (5 rows, short).
    assert _recordsql_calls(divalto_simulator) == 6


def test_paging_stops_when_the_last_page_is_exactly_full(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """When the data ends exactly with a full page, one more call ends the read."""
    _seed_articles(divalto_simulator, _bench(range(1, 247)))
    pages = records.read(BENCH, page_size=50)
    refs = [row["REF"] for row in pages]
    assert len(refs) == 246
    assert len(set(refs)) == 246
    # Offset 196 returns rows 196-245, a full page; offset 245 returns one row.
    assert _recordsql_calls(divalto_simulator) == 6
    assert list(pages) == []
    assert _recordsql_calls(divalto_simulator) == 6


def test_whole_table_paged_with_default_fields(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Every article of the dossier is read once, the seeded ones included."""
    before = len(divalto_simulator.control.table("ART", DOS="998"))
    _seed_articles(divalto_simulator, _bench(range(1, 101)))
    rows = list(records.read(ARTICLES, page_size=40))
    identities = [int(row["TABLE_ID"]) for row in rows]
    assert len(rows) == before + 100
    assert identities == sorted(set(identities))


def test_rows_inserted_during_the_read_are_not_repeated_nor_skipped(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Inserts ahead of the cursor are read once; inserts behind it shift nothing."""
    _seed_articles(divalto_simulator, _bench(range(1, 121), step=2))
    pages = iter(records.read(BENCH, page_size=50))
    seen = [next(pages)["REF"] for _ in range(60)]
    # 10 rows behind the cursor (odd identities between read ones), 10 ahead.
    behind = _bench(range(1001, 1011), first_id=100_001, step=2)
    ahead = _bench(range(2001, 2011), first_id=200_000)
    _seed_articles(divalto_simulator, behind + ahead)
    seen += [row["REF"] for row in pages]
    expected = [f"BEN{n:05d}" for n in range(1, 121)] + [
        f"BEN{n:05d}" for n in range(2001, 2011)
    ]
    assert seen == expected


def _move_out_of_filter(sim: RunningSimulator, identities: list[int]) -> None:
    """Rename rows so that ``Like_Ref BEN`` no longer sees them: a deletion."""
    rows = [
        {"ART_ID": ident, "REF": f"GONE{ident}", "DES": "x"} for ident in identities
    ]
    _seed_articles(sim, rows)


def test_rows_deleted_behind_the_cursor_cause_no_skip(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Deleting 30 rows already read shifts offsets back; no later row is skipped."""
    _seed_articles(divalto_simulator, _bench(range(1, 151)))
    pages = iter(records.read(BENCH, page_size=50))
    seen = [next(pages)["REF"] for _ in range(60)]
    _move_out_of_filter(divalto_simulator, list(range(100_010, 100_040)))
    seen += [row["REF"] for row in pages]
    assert seen == [f"BEN{n:05d}" for n in range(1, 151)]
    # Offsets 0 and 49; 98 now starts past the cursor, so 48 again, then 97.
    assert _recordsql_calls(divalto_simulator) == 5


def test_plain_offset_paging_would_have_skipped_in_that_case(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """The same deletion makes naive offset pages skip 30 rows: the risk is real."""
    _seed_articles(divalto_simulator, _bench(range(1, 151)))
    query = BENCH.order_by("Par_ID")
    first = records.page(query, offset=0, count=50).records
    second = records.page(query, offset=50, count=50).records
    _move_out_of_filter(divalto_simulator, list(range(100_010, 100_040)))
    third = records.page(query, offset=100, count=50).records
    refs = {row["REF"] for row in first + second + third}
    assert len(refs) == 120


def test_rows_deleted_ahead_are_simply_not_read(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Rows deleted before their page is read never appear; the rest all do."""
    _seed_articles(divalto_simulator, _bench(range(1, 151)))
    pages = iter(records.read(BENCH, page_size=50))
    seen = [next(pages)["REF"] for _ in range(10)]
    _move_out_of_filter(divalto_simulator, list(range(100_000, 100_005)))
    _move_out_of_filter(divalto_simulator, list(range(100_100, 100_150)))
    seen += [row["REF"] for row in pages]
    assert seen == [f"BEN{n:05d}" for n in range(1, 101)]


def test_a_read_resumes_from_its_cursor(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """A cursor saved as text after 70 records resumes with the 71st, in new pages."""
    _seed_articles(divalto_simulator, _bench(range(1, 151)))
    pages = records.read(BENCH, page_size=50)
    iterator = iter(pages)
    head = [next(iterator)["REF"] for _ in range(70)]
    saved = pages.cursor.dumps()
    assert Cursor.loads(saved) == pages.cursor
    assert pages.cursor.after == 100_069
    rest = [
        row["REF"]
        for row in records.read(BENCH, page_size=50, start=Cursor.loads(saved))
    ]
    assert head + rest == [f"BEN{n:05d}" for n in range(1, 151)]


def test_a_cursor_only_resumes_its_own_query(records: Records) -> None:
    """A cursor of one query is refused by another, and junk text is no cursor."""
    cursor = records.read(BENCH).cursor
    with pytest.raises(ValueError, match="another query"):
        records.read(ARTICLES, start=cursor)
    with pytest.raises(ValueError, match="not a RecordSql cursor"):
        Cursor.loads('{"query": "x"}')


def test_paging_refuses_an_order_other_than_identity(records: Records) -> None:
    """Reading all pages sorted by label is refused; one page of it is allowed."""
    with pytest.raises(ValueError, match="identity order"):
        records.read(ARTICLES.order_by("Par_Libelle"))
    page = records.page(ARTICLES.select("REF").order_by("Par_Libelle"), count=2)
    assert [row["REF"] for row in page.records] == ["ALB0001", "NW017"]


@dataclasses.dataclass(frozen=True)
class Article:
    ref: str
    price: Decimal
    stocked: bool
    sub_references: bool
    vat_rate: Decimal | None
    identity: int


ARTICLE = RecordSchema(
    Article,
    ref="REF",
    price=Column("PUB", decimal),
    stocked=Column("STFL", flag),
    sub_references=Column("SREFFL", flag),
    vat_rate=Column("TVA_TAUX", optional(decimal)),
    identity=Column("ART_ID", integer),
)


def test_records_decode_into_typed_objects(records: Records) -> None:
    """Strings become Decimal, bool and int by the declared schema."""
    query = ARTICLES.where("Like_Ref", ref="BLO")
    assert list(records.read(query, ARTICLE)) == [
        Article("BLO0001", Decimal("89.90"), True, True, Decimal("20.00"), 2)
    ]


def test_a_value_that_does_not_decode_names_record_and_field(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """A price of '12,5x' fails, naming the record's TABLE_ID and the field PUB."""
    _seed_articles(
        divalto_simulator, [{"ART_ID": 777, "REF": "BAD1", "DES": "x", "PUB": "12,5x"}]
    )
    with pytest.raises(errors.RecordDecodeError) as caught:
        list(records.read(ARTICLES.where("Equal_Ref", ref="BAD1"), ARTICLE))
    assert (caught.value.record, caught.value.field) == ("777", "PUB")
    assert caught.value.message == (
        "Record TABLE_ID=777: field PUB '12,5x' is not a decimal number with a point"
    )


def test_a_flag_outside_1_and_2_is_refused(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """A yes/no flag of '0' is not read as no: it fails naming the field."""
    _seed_articles(
        divalto_simulator,
        [{"ART_ID": 778, "REF": "BAD2", "DES": "x", "PUB": "1", "STFL": "0"}],
    )
    with pytest.raises(errors.RecordDecodeError) as caught:
        list(records.read(ARTICLES.where("Equal_Ref", ref="BAD2"), ARTICLE))
    assert caught.value.field == "STFL"
    assert "is not a flag (1 = no, 2 = yes)" in caught.value.message


def test_a_schema_selects_only_its_fields(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Reading with a schema asks the ERP for the schema's fields and the identity."""
    pages = records.read(ARTICLES.where("Equal_Ref", ref="ALB0001"), ARTICLE)
    assert pages.query.fields == (
        "REF",
        "PUB",
        "STFL",
        "SREFFL",
        "TVA_TAUX",
        "ART_ID",
        "TABLE_ID",
    )
    assert pages.query.orderby == "Par_ID"
    assert [article.ref for article in pages] == ["ALB0001"]


def test_dates_decode_and_bad_dates_are_named() -> None:
    """YYYYMMDD decodes to a date; an impossible date names its record and field."""
    schema = RecordSchema(dict, day=Column("PIDT", yyyymmdd))
    assert schema.decode({"TABLE_ID": "5", "PIDT": "20250228"}) == {
        "day": date(2025, 2, 28)
    }
    with pytest.raises(errors.RecordDecodeError) as caught:
        schema.decode({"TABLE_ID": "5", "PIDT": "20250230"})
    assert caught.value.message == (
        "Record TABLE_ID=5: field PIDT '20250230' is not a valid YYYYMMDD date"
    )
    with pytest.raises(errors.RecordDecodeError, match="field PIDT is missing"):
        schema.decode({"TABLE_ID": "5"})


def test_a_parameter_the_erp_cannot_store_is_refused_before_sending(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """A name with 'ł' is refused naming the parameter; nothing reaches the ERP."""
    with pytest.raises(errors.UnencodableText) as caught:
        records.page(CUSTOMERS.where("Like_Nom", nom="Wrocław"))
    assert caught.value.field == "where_parameters.nom"
    assert caught.value.characters == "ł"
    assert _recordsql_calls(divalto_simulator) == 0


async def test_async_paging_reads_the_same_records(
    async_records: AsyncRecords, divalto_simulator: RunningSimulator
) -> None:
    """The async reader yields the same 250 records in the same six calls."""
    _seed_articles(divalto_simulator, _bench(range(1, 251)))
    refs = [row["REF"] async for row in async_records.read(BENCH, page_size=50)]
    assert refs == [f"BEN{number:05d}" for number in range(1, 251)]
    assert _recordsql_calls(divalto_simulator) == 6


async def test_async_reader_survives_deletions_and_resumes(
    async_records: AsyncRecords, divalto_simulator: RunningSimulator
) -> None:
    """Async paging steps back after deletions and resumes from a cursor."""
    _seed_articles(divalto_simulator, _bench(range(1, 151)))
    pages = async_records.read(BENCH, page_size=50)
    seen: list[str] = []
    async for row in pages:
        seen.append(row["REF"])
        if len(seen) == 60:
            break
    _move_out_of_filter(divalto_simulator, list(range(100_010, 100_040)))
    resumed = async_records.read(BENCH, page_size=50, start=pages.cursor)
    seen += [row["REF"] async for row in resumed]
    assert seen == [f"BEN{n:05d}" for n in range(1, 151)]


async def test_async_typed_read_and_first(async_records: AsyncRecords) -> None:
    """Async reads decode with a schema, and ``first`` returns one record."""
    typed = [
        a
        async for a in async_records.read(
            ARTICLES.where("Equal_Ref", ref="CAF0001"), ARTICLE
        )
    ]
    assert [(a.ref, a.price) for a in typed] == [("CAF0001", Decimal("34.90"))]
    first = await async_records.first(CUSTOMERS.where("Equal_Tiers", tiers="C0000003"))
    assert first is not None
    assert first["NOM"] == "Bœuf & Cœur SARL"


def test_an_unknown_case_is_a_query_rejection(records: Records) -> None:
    """A WHERE case the RecordSql lacks is refused by the ERP as a query error."""
    with pytest.raises(errors.QueryRejected) as caught:
        records.page(ARTICLES.where("Equal_Nope", ref="x"))
    assert caught.value.erp_text == (
        "Unknown WHERE case 'Equal_Nope' for RecordSql 'GTRSART.dhoq/Article'"
    )


class CannedCaller:
    """Answers every read with the same records: for shapes no ERP should send."""

    def __init__(self, *records: dict[str, str]) -> None:
        self.envelope = {"error": 0, "records": [{"record": r} for r in records]}

    def call(self, endpoint: Any, body: Any, *, kind: Any, action: Any = None) -> Any:
        return self.envelope


def test_records_out_of_identity_order_are_refused() -> None:
    """An answer that ignores the identity order cannot be paged safely: refused."""
    caller = CannedCaller({"TABLE_ID": "5"}, {"TABLE_ID": "3"})
    with pytest.raises(errors.ResponseInvalid) as caught:
        list(Records(caller).read(ARTICLES))
    assert caught.value.message == (
        "GTRSART.dhoq/Article records are not in TABLE_ID order: 3 after 5"
    )


def test_records_without_identity_are_refused() -> None:
    """A record without an integer TABLE_ID is refused, naming the value."""
    with pytest.raises(errors.ResponseInvalid, match="no integer TABLE_ID: 'x1'"):
        list(Records(CannedCaller({"TABLE_ID": "x1"})).read(ARTICLES))
    with pytest.raises(errors.ResponseInvalid, match="no integer TABLE_ID: None"):
        list(Records(CannedCaller({"REF": "A"})).read(ARTICLES))


def test_iterating_again_after_a_break_skips_nothing(
    records: Records, divalto_simulator: RunningSimulator
) -> None:
    """Breaking in the middle of a page, then iterating again, resumes exactly."""
    _seed_articles(divalto_simulator, _bench(range(1, 121)))
    pages = records.read(BENCH, page_size=50)
    seen: list[str] = []
    for stop in (30, 75, 110, None):
        for row in pages:
            seen.append(row["REF"])
            if len(seen) == stop:
                break
    assert seen == [f"BEN{n:05d}" for n in range(1, 121)]
