"""Business services on the client side: XML demands and JSON business actions.

Every test talks to the simulator over loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest

from divalto import errors
from divalto.client import AsyncDivalto, Divalto
from divalto.services import (
    AsyncServices,
    BusinessAction,
    Demand,
    PriceOptions,
    Services,
    StockLevel,
)
from divalto.settings import Profile, ServiceActions
from divalto.simulator import ActionNames, SimulatorServer, SimulatorSettings
from divalto.testing import RunningSimulator

LABEL = "Cafetière « Cœur » édition 10 €"


def _profile(base_url: str, **settings: Any) -> Profile:
    return Profile(
        base_url=base_url, dossier="998", user="DEMO", password="demo", **settings
    )


@pytest.fixture
def services(profile: Profile) -> Iterator[Services]:
    with Divalto(profile) as erp:
        yield erp.services


@pytest.fixture
async def async_services(profile: Profile) -> AsyncIterator[AsyncServices]:
    async with AsyncDivalto(profile) as erp:
        yield erp.services


def _service_calls(sim: RunningSimulator) -> list[dict[str, Any]]:
    return sim.control.requests(route="service")


def _order(piref: str, quantity: int = 3) -> dict[str, Any]:
    return {
        "ipar": {"PcePiRefCtrFl": True},
        "ient": {"PiCod": "2", "Tiers": "C0000001", "PiRef": piref},
        "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": quantity}}],
    }


def test_stock_levels_per_depot_are_exact_decimals(services: Services) -> None:
    """ALB0001 has a level in depots 1 and 2: physical, reserved, available."""
    answer = services.stock("ALB0001")
    assert answer.article is not None
    assert answer.article.label == "Album photo 30 x 30"
    assert answer.levels == [
        StockLevel(
            "1", "ALB0001", "", "", Decimal("120"), Decimal("20"), Decimal("100")
        ),
        StockLevel("2", "ALB0001", "", "", Decimal("15"), Decimal("0"), Decimal("15")),
    ]
    assert str(answer.levels[0].available) == "100.000"


def test_a_single_stock_line_is_still_a_list(services: Services) -> None:
    """One depot and one sub-reference pair give a list of one level."""
    answer = services.stock("BLO0001", depot="1", sref1="XL", sref2="BLEU")
    assert [(lv.sref1, lv.sref2, lv.physical) for lv in answer.levels] == [
        ("XL", "BLEU", Decimal("8.000"))
    ]


def test_price_simulation_gives_gross_discounts_net_and_amount(
    services: Services,
) -> None:
    """C0000001 pays 10 ALB0001 at 10.00 less 5 % and 2 %: 9.31 each, 93.10."""
    quote = services.price("C0000001", "ALB0001", PriceOptions(quantity=10))
    assert (quote.gross, quote.net, quote.amount) == (
        Decimal("10.00"),
        Decimal("9.31"),
        Decimal("93.10"),
    )
    assert quote.discounts == (Decimal("5.00"), Decimal("2.00"), Decimal("0.00"))
    assert (quote.vat_code, quote.vat_rate) == ("1", Decimal("20.00"))


def test_price_including_tax(services: Services) -> None:
    """With tax included, the amounts change but the amount excluding tax stays."""
    options = PriceOptions(quantity=Decimal("10"), including_tax=True)
    quote = services.price("C0000001", "ALB0001", options)
    assert [str(value) for value in (quote.gross, quote.net, quote.amount)] == [
        "12.00",
        "11.17",
        "111.72",
    ]
    assert quote.amount_excluding_tax == Decimal("93.10")


def test_honest_encoding_keeps_the_label_exact(services: Services) -> None:
    """The label with «, œ, é and € comes back exactly from an honest answer."""
    assert services.stock("CAF0001").article.label == LABEL  # type: ignore[union-attr]


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1252"])
def test_a_lying_encoding_is_repaired(
    services: Services, divalto_simulator: RunningSimulator, encoding: str
) -> None:
    """A UTF-8 or Windows-1252 answer declared ISO-8859-1 gives the exact label."""
    divalto_simulator.control.add_fault(
        "lying_encoding", route="service", encoding=encoding
    )
    answer = services.stock("CAF0001")
    assert answer.article is not None
    assert answer.article.label == LABEL
    assert _service_calls(divalto_simulator)[0]["faults"] == ["lying_encoding"]


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1252"])
def test_a_lying_encoding_is_repaired_in_price_answers(
    services: Services, divalto_simulator: RunningSimulator, encoding: str
) -> None:
    """Decimals and the label survive a lying INTERROGER_TARIF answer."""
    divalto_simulator.control.add_fault(
        "lying_encoding", action="INTERROGER_TARIF", encoding=encoding
    )
    quote = services.price("C0000001", "CAF0001")
    assert quote.article is not None
    assert quote.article.label == LABEL
    assert quote.gross == Decimal("31.90")


@pytest.mark.parametrize(
    ("tiers", "ref", "options", "kind", "text"),
    [
        (
            "C0999999",
            "ALB0001",
            PriceOptions(),
            errors.ReferenceNotFound,
            "Tiers inexistant",
        ),
        (
            "C0000001",
            "NOPE",
            PriceOptions(),
            errors.ReferenceNotFound,
            "Article inexistant",
        ),
        (
            "C0000001",
            "ALB0001",
            PriceOptions(depot="9"),
            errors.ReferenceNotFound,
            "Dépôt inexistant",
        ),
        (
            "C0000001",
            "BLO0001",
            PriceOptions(),
            errors.RequestRejected,
            "Sous-réf obligatoire",
        ),
        (
            "C0000001",
            "BLO0001",
            PriceOptions(sref1="XS", sref2="VERT"),
            errors.ReferenceNotFound,
            "Sous référence inexistante",
        ),
    ],
)
def test_xml_refusals_map_to_errors(
    services: Services,
    tiers: str,
    ref: str,
    options: PriceOptions,
    kind: type[errors.DivaltoError],
    text: str,
) -> None:
    """Each documented <erreur> text raises its error, with the text kept."""
    with pytest.raises(kind) as caught:
        services.price(tiers, ref, options)
    assert type(caught.value) is kind
    assert caught.value.errormessage == text
    assert caught.value.action == "INTERROGER_TARIF"


def test_text_the_erp_cannot_carry_is_refused_before_sending(
    services: Services, divalto_simulator: RunningSimulator
) -> None:
    """A reference holding 'ā' and '😀' is refused naming both; nothing is sent."""
    with pytest.raises(errors.UnencodableText) as caught:
        services.stock("ALBā😀")
    assert caught.value.field == "INTERROGER_STOCK.ref"
    assert caught.value.characters == "ā😀"
    assert "'ā' (U+0101), '😀' (U+1F600)" in caught.value.message
    assert _service_calls(divalto_simulator) == []


def test_a_generic_demand_returns_the_answer_tree(services: Services) -> None:
    """A demand built by hand returns the <rep> root for reading."""
    root = services.demand(Demand.of("INTERROGER_STOCK", ref="ALB0001", depot="2"))
    assert root.findtext("ligne/disponible") == "15.000"


def test_business_action_returns_its_response(
    services: Services, divalto_simulator: RunningSimulator
) -> None:
    """integration_piece creates order CC00000001 and answers with its numbers."""
    response = services.run(BusinessAction.CREATE_DOCUMENT, _order("SHOP-1"))
    piece = response["piece"]
    assert (piece["picod"], piece["pino"], piece["prefpino"]) == (
        "2",
        "00000001",
        "CC00000001",
    )
    assert piece["piref"] == "SHOP-1"
    logged = _service_calls(divalto_simulator)
    assert [(row["service_action"], row["action"]) for row in logged] == [
        ("WEB_SERVICE_INFINITY", "integration_piece")
    ]
    rows = divalto_simulator.control.table("ENT", PIREF="SHOP-1")
    assert [row["PREFPINO"] for row in rows] == ["CC00000001"]


def test_a_duplicate_reference_is_told_apart(services: Services) -> None:
    """The same "your reference" twice raises DuplicateReference, resultcode 3."""
    services.run(BusinessAction.CREATE_DOCUMENT, _order("SHOP-2"))
    with pytest.raises(errors.DuplicateReference) as caught:
        services.run(BusinessAction.CREATE_DOCUMENT, _order("SHOP-2"))
    assert caught.value.resultcode == "3"
    assert caught.value.errormessage == (
        "ient.PiRef: your reference 'SHOP-2' is already used by order CC00000001"
    )


def test_insufficient_stock_is_told_apart(services: Services) -> None:
    """Taking 500 of 120 in stock raises InsufficientStock with the ERP's message."""
    movement = {
        "istock": {"Ref": "ALB0001", "Depo": "1", "Qte": 500, "Sens": "S", "Motif": "x"}
    }
    with pytest.raises(errors.InsufficientStock) as caught:
        services.run(BusinessAction.STOCK_MOVEMENT, movement)
    assert caught.value.errormessage == (
        "not enough stock of article 'ALB0001' in depot '1': asked 500, available 120"
    )


def test_a_stale_version_is_a_version_conflict(services: Services) -> None:
    """Updating customer C0000001 at version 7 (it is 1) raises VersionConflict."""
    change = {"icli": {"Tiers": "C0000001", "Version": 7, "Nom": "Nouveau nom"}}
    with pytest.raises(errors.VersionConflict) as caught:
        services.run(BusinessAction.UPDATE_CUSTOMER, change)
    assert caught.value.errormessage == (
        "version conflict on customer 'C0000001': current version 1, given 7"
    )


def test_an_unknown_object_is_reference_not_found(services: Services) -> None:
    """resultcode 2 raises ReferenceNotFound naming the field."""
    change = {"icli": {"Tiers": "C0999999", "Version": 1, "Nom": "X"}}
    with pytest.raises(errors.ReferenceNotFound) as caught:
        services.run(BusinessAction.UPDATE_CUSTOMER, change)
    assert caught.value.resultcode == "2"
    assert caught.value.errormessage == "icli.Tiers: customer 'C0999999' not found"


def test_a_non_conforming_request_is_request_rejected(services: Services) -> None:
    """resultcode 1 raises RequestRejected; other rules stay plain refusals."""
    with pytest.raises(errors.RequestRejected) as caught:
        services.run(BusinessAction.UPDATE_CUSTOMER, {"icli": {"Version": 1}})
    assert caught.value.errormessage == "icli.Tiers: is required"


def test_a_refusal_without_a_known_message_stays_a_business_rule(
    services: Services,
) -> None:
    """Moving stock of a non-stocked article is refused by a plain business rule."""
    movement = {"istock": {"Ref": "PORT", "Qte": 1, "Sens": "E", "Motif": "x"}}
    with pytest.raises(errors.BusinessRuleRejected) as caught:
        services.run(BusinessAction.STOCK_MOVEMENT, movement)
    assert type(caught.value) is errors.BusinessRuleRejected
    assert caught.value.errormessage == "istock.Ref: article 'PORT' is not stocked"


def test_action_data_outside_the_encoding_is_refused_with_its_path(
    services: Services, divalto_simulator: RunningSimulator
) -> None:
    """A line label with '→' is refused naming data.imouvtb[1].imouv.Des."""
    order = _order("SHOP-3")
    order["imouvtb"][0]["imouv"]["Des"] = "Album → grand"
    with pytest.raises(errors.UnencodableText) as caught:
        services.run(BusinessAction.CREATE_DOCUMENT, order)
    assert caught.value.field == "data.imouvtb[1].imouv.Des"
    assert caught.value.characters == "→"
    assert _service_calls(divalto_simulator) == []


def test_decimals_and_flags_travel_as_divalto_text(
    services: Services, divalto_simulator: RunningSimulator
) -> None:
    """A Decimal quantity arrives as '2.5' and a True flag as '2'; floats never go."""
    order = _order("SHOP-4")
    order["imouvtb"][0]["imouv"]["Qte"] = Decimal("2.5")
    piece = services.run(BusinessAction.CREATE_DOCUMENT, order)["piece"]
    assert [line["qte"] for line in piece["lines"]] == ["2.5"]
    with pytest.raises(TypeError, match="float"):
        services.action("integration_piece", {"ient": {"Qte": 2.5}})


@pytest.fixture(scope="module")
def renamed_simulator() -> Iterator[SimulatorServer]:
    names = ActionNames(
        xml_service="DEMANDES_MAISON",
        json_service="ACTIONS_MAISON",
        stock_movement="mvt_stock_maison",
    )
    with SimulatorServer(SimulatorSettings(actions=names)) as server:
        yield server


def test_action_names_come_from_the_profile(
    renamed_simulator: SimulatorServer,
) -> None:
    """A tenant with its own action codes is served by naming them in the profile."""
    names = ServiceActions(
        xml_service="DEMANDES_MAISON",
        json_service="ACTIONS_MAISON",
        stock_movement="mvt_stock_maison",
    )
    with Divalto(_profile(renamed_simulator.base_url, actions=names)) as erp:
        stock = erp.services.stock("ALB0001", depot="2")
        assert stock.levels[0].physical == Decimal(15)
        movement = {
            "istock": {
                "Ref": "ALB0001",
                "Depo": "2",
                "Qte": 5,
                "Sens": "E",
                "Motif": "Inventaire",
            }
        }
        response = erp.services.run(BusinessAction.STOCK_MOVEMENT, movement)
        assert response["stock"]["qte"] == "5"
    with Divalto(_profile(renamed_simulator.base_url)) as erp:
        with pytest.raises(errors.RequestRejected) as caught:
            erp.services.stock("ALB0001")
        assert caught.value.erp_text == (
            "Unknown service action 'SYNCHRO_INFINITY_AGILEO'"
        )


async def test_async_demands_and_actions(
    async_services: AsyncServices, divalto_simulator: RunningSimulator
) -> None:
    """The async twin reads stock, prices, repairs encodings and maps refusals."""
    divalto_simulator.control.add_fault(
        "lying_encoding", route="service", encoding="windows-1252", times=1
    )
    stock = await async_services.stock("CAF0001", depot="1")
    assert stock.article is not None
    assert stock.article.label == LABEL
    assert stock.levels[0].available == Decimal("40")
    quote = await async_services.price("C0000001", "ALB0001", PriceOptions(quantity=10))
    assert quote.amount == Decimal("93.10")
    await async_services.run(BusinessAction.CREATE_DOCUMENT, _order("SHOP-5"))
    with pytest.raises(errors.DuplicateReference):
        await async_services.run(BusinessAction.CREATE_DOCUMENT, _order("SHOP-5"))
    state = await async_services.run(
        BusinessAction.DOCUMENT_STATE, {"ient": {"PiRef": "SHOP-5"}}
    )
    assert state["piece"]["prefpino"] == "CC00000001"
