"""The ``WEB_SERVICE_INFINITY`` envelope: parsing ``param``, naming the business
action, dossier checks, text encoding and what the request log records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire


def execute(wire: Wire, param: str) -> dict[str, Any]:
    return wire.service("WEB_SERVICE_INFINITY", param)


def inner(answer: dict[str, Any]) -> dict[str, Any]:
    assert (answer["error"], answer["txterr"]) == (0, ""), answer
    result: dict[str, Any] = json.loads(answer["result"])
    return result


def test_single_quoted_inner_json_is_accepted(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Single-quoted strings may hold escaped apostrophes and bare double quotes."""
    param = (
        "{'action': {'swinfinity': 'creation_client', 'parameters': {'dos': '998'}},"
        " 'data': {'icli': {'Nom': 'L\\'Atelier \"Nord\"', \"Vil\": \"Saint-Lô\","
        " 'Rue': 'quai d\\u0027Anjou \\\\ 2'}}}"
    )

    result = inner(execute(wire, param))

    assert result["result"]["common"] == {"resultcode": "0", "errormessage": ""}
    (row,) = divalto_simulator.control.table("CLI", TIERS="C0000005")
    assert (row["NOM"], row["VIL"], row["RUE"]) == (
        'L\'Atelier "Nord"',
        "Saint-Lô",
        "quai d'Anjou \\ 2",
    )


def test_apostrophes_inside_double_quoted_strings_stay_text(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A double-quoted string's apostrophes do not start a single-quoted one."""
    param = json.dumps(
        {
            "action": {"swinfinity": "creation_client", "parameters": {"dos": "998"}},
            "data": {"icli": {"Nom": "Chez l'ami 'Jean'"}},
        }
    )

    inner(execute(wire, param))

    assert divalto_simulator.control.table("CLI", TIERS="C0000005")[0]["NOM"] == (
        "Chez l'ami 'Jean'"
    )


@pytest.mark.parametrize(
    ("param", "txterr"),
    [
        (
            '{"action": {"swinfinity": "etat_piece"},}',
            "Malformed JSON in 'param': Expecting property name enclosed in double "
            "quotes at line 1 column 41",
        ),
        (
            "{'action': {'swinfinity': 'etat_piece'},\n 'data': {'a': 'b' 'c'}}",
            "Malformed JSON in 'param': Expecting ',' delimiter at line 2 column 20",
        ),
        (
            "{'action': {'swinfinity': 'etat_piece'}, 'data': 'open}",
            "Malformed JSON in 'param': unterminated string starting at line 1 "
            "column 50",
        ),
        ("", "Malformed JSON in 'param': Expecting value at line 1 column 1"),
        (
            '{"action": {"swinfinity": "etat_piece"}, "data": {"Qte": NaN}}',
            "Malformed JSON in 'param': NaN is not a number JSON allows",
        ),
        ("[" * 50_000, "Malformed JSON in 'param': nested too deeply"),
        ('["etat_piece"]', "'param' must hold a JSON object"),
        (
            '{"action": {"parameters": {"dos": "998"}}, "data": {}}',
            "'param' must name its business action in action.swinfinity",
        ),
        (
            '{"action": "etat_piece", "data": {}}',
            "'param' must name its business action in action.swinfinity",
        ),
    ],
)
def test_a_param_that_is_not_a_business_action_is_an_envelope_error(
    wire: Wire, param: str, txterr: str
) -> None:
    """Not JSON, not an object, or no business action: error 31 naming why."""
    answer = execute(wire, param)

    assert answer == {"error": 31, "txterr": txterr, "infos": ""}


def test_an_unknown_business_action_is_resultcode_1(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """The action name is echoed in codeScript and named in the message."""
    result = wire.json_action("integration_commande", {})

    assert result == {
        "label": "infinity",
        "codeScript": "integration_commande",
        "result": {
            "common": {
                "resultcode": "1",
                "errormessage": "action.swinfinity: unknown business action "
                "'integration_commande'",
            },
            "response": {},
        },
    }
    (logged,) = divalto_simulator.control.requests(route="service")
    assert (logged["action"], logged["outcome"], logged["resultcode"]) == (
        "integration_commande",
        "rejected",
        "1",
    )


def test_business_action_names_match_without_regard_to_case(wire: Wire) -> None:
    """``ETAT_PIECE`` runs ``etat_piece`` and is echoed as sent."""
    result = wire.json_action("ETAT_PIECE", {"ient": {"PiRef": "none"}})

    assert result["codeScript"] == "ETAT_PIECE"
    assert result["result"]["common"] == {
        "resultcode": "2",
        "errormessage": "ient.PiRef: no document with your reference 'none'",
    }


def test_the_dossier_must_be_given_and_be_the_callers(wire: Wire) -> None:
    """A missing dos, or another dossier than the user's, is resultcode 1."""
    missing = {
        "action": {"swinfinity": "etat_piece", "parameters": {}},
        "data": {"ient": {"PiRef": "X"}},
    }
    other = wire.json_action("etat_piece", {"ient": {"PiRef": "X"}}, dos="999")
    no_data = {"action": {"swinfinity": "etat_piece", "parameters": {"dos": "998"}}}

    assert inner(execute(wire, json.dumps(missing)))["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "action.parameters.dos: is required",
    }
    assert other["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "action.parameters.dos: dossier '999' is not the dossier of "
        "user 'DEMO' ('998')",
    }
    assert inner(execute(wire, json.dumps(no_data)))["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "data: is required",
    }


def test_text_the_erp_cannot_carry_is_refused_naming_the_characters(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Windows-1252 carries €, œ and ó but not ✓, 😀, Ł or ź: those are named."""
    data = {
        "ient": {"PiCod": "2", "Tiers": "C0000002", "PiRef": "SHOP-✓-✓"},
        "imouvtb": [
            {"imouv": {"Ref": "ALB0001", "Qte": "1", "Des": "Album 😀 Łódź"}},
            {"imouv": {"Ref": "ALB0001", "Qte": "1", "Des": "Cœur à 10 €"}},
        ],
    }

    result = wire.json_action("integration_piece", data)

    assert result["result"]["common"] == {
        "resultcode": "1",
        "errormessage": "ient.PiRef: characters not representable in "
        "windows-1252: '✓' (U+2713); imouvtb[1].imouv.Des: characters not "
        "representable in windows-1252: '😀' (U+1F600), 'Ł' (U+0141), 'ź' (U+017A)",
    }
    assert divalto_simulator.control.table("ENT") == []


def test_field_names_match_without_regard_to_case_and_lists_may_be_one_object(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """Lower-case names and a single line object instead of a list are accepted."""
    data = {
        "IENT": {"picod": 2, "tiers": "C0000002", "piref": "low-1"},
        "imouvtb": {"IMOUV": {"ref": "CAF0001", "qte": 2.5, "pubht": 10}},
    }

    result = wire.json_action("integration_piece", data)

    piece = result["result"]["response"]["piece"]
    assert (piece["prefpino"], piece["piref"], piece["htmt"]) == (
        "CC00000001",
        "low-1",
        "25.00",
    )
    assert divalto_simulator.control.table("MOUV")[0]["QTE"] == "2.5"


def test_the_request_log_records_action_outcome_reference_and_document(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A created document is findable in the log by its reference and number."""
    data = {
        "ient": {"PiCod": "2", "Tiers": "C0000002", "PiRef": "SHOP-42"},
        "imouvtb": [{"imouv": {"Ref": "ALB0001", "Qte": "1"}}],
    }

    wire.json_action("integration_piece", data)

    (logged,) = divalto_simulator.control.requests(reference="SHOP-42")
    assert {
        key: logged[key]
        for key in (
            "route",
            "service_action",
            "action",
            "outcome",
            "error",
            "resultcode",
            "document",
        )
    } == {
        "route": "service",
        "service_action": "WEB_SERVICE_INFINITY",
        "action": "integration_piece",
        "outcome": "ok",
        "error": 0,
        "resultcode": "0",
        "document": "CC00000001",
    }


def test_envelope_errors_are_logged_as_errors(
    wire: Wire, divalto_simulator: RunningSimulator
) -> None:
    """A malformed param is an error in the log, not a business rejection."""
    execute(wire, "{not json")

    (logged,) = divalto_simulator.control.requests(route="service")
    assert (logged["outcome"], logged["error"], logged["resultcode"]) == (
        "error",
        31,
        None,
    )
