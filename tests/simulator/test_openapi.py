"""The simulator's OpenAPI 3.1 document: its structure, its settings, its examples."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from divalto.simulator import FaultRule, SimulatorSettings
from divalto.simulator.openapi import REF_TEMPLATE, openapi_document
from divalto.testing import RunningSimulator
from tests.simulator.conftest import Wire

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROTOCOL_RECORDSQL_FIELDS = {
    "dhoq",
    "recordsql",
    "access_token",
    "parameters",
    "fields",
    "where",
    "where_parameters",
    "offset",
    "count",
    "orderby",
    "having",
    "having_parameters",
    "infos",
}


@pytest.fixture
def document() -> dict[str, Any]:
    return openapi_document(SimulatorSettings())


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` value anywhere in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def example(document: dict[str, Any], path: str, name: str | None = None) -> Any:
    media = document["paths"][path]["post"]["requestBody"]["content"]
    body = media["application/json"]
    return body["examples"][name]["value"] if name else body["example"]


def test_document_is_openapi_3_1_with_cloud_and_on_premises_servers(
    document: dict[str, Any],
) -> None:
    """The document declares OpenAPI 3.1.0 and the two forms of the API base."""
    assert document["openapi"] == "3.1.0"
    cloud, on_premises = document["servers"]
    assert cloud["url"] == "http://127.0.0.1:8000/{site}/{env}/api/v1"
    assert cloud["variables"]["site"]["default"] == "123456"
    assert cloud["variables"]["env"]["default"] == "TEST1"
    assert on_premises["url"] == (
        "http://127.0.0.1:8000/DhsDivaltoServiceDivaApiRest/api/v1"
    )


def test_every_path_has_an_operation_and_every_ref_resolves(
    document: dict[str, Any],
) -> None:
    """No path item is empty and no ``$ref`` points at nothing."""
    for path, item in document["paths"].items():
        assert METHODS & set(item), path
    found = list(refs(document))
    assert "#/components/schemas/FaultRule" in found
    for ref in found:
        assert isinstance(resolve(document, ref), dict), ref


def test_every_operation_has_a_unique_id_a_tag_and_responses(
    document: dict[str, Any],
) -> None:
    """Each operation is tagged divalto or control, with an id and a response."""
    ids = []
    for path, _, operation in operations(document):
        ids.append(operation["operationId"])
        expected = "control" if path.startswith("/_simulator") else "divalto"
        assert operation["tags"] == [expected], path
        assert operation["responses"], path
    assert len(ids) == len(set(ids))
    assert len(ids) == 19


def test_every_path_template_names_a_declared_path_parameter(
    document: dict[str, Any],
) -> None:
    """``{code}``, ``{rule_id}`` and ``{table}`` are declared path parameters."""
    templated = 0
    for path, method, operation in operations(document):
        names = set(re.findall(r"\{(\w+)\}", path))
        item_parameters = document["paths"][path].get("parameters", [])
        declared = {
            parameter["name"]
            for parameter in [*item_parameters, *operation.get("parameters", [])]
            if parameter["in"] == "path"
        }
        assert declared == names, (path, method)
        templated += bool(names)
    assert templated == 4


def test_control_paths_are_served_from_the_simulators_root(
    document: dict[str, Any],
) -> None:
    """Control paths override the servers with the root; Divalto paths do not."""
    for path, item in document["paths"].items():
        if path.startswith("/_simulator"):
            assert item["servers"] == [
                {"url": "http://127.0.0.1:8000", "description": "The simulator's root."}
            ]
        else:
            assert "servers" not in item, path


def test_divalto_routes_are_the_documented_four(document: dict[str, Any]) -> None:
    """Login, RecordSql, business services and webhooks, relative to the base."""
    divalto = {
        path
        for path, _, operation in operations(document)
        if operation["tags"] == ["divalto"]
    }
    assert divalto == {
        "/Authent/Auth",
        "/RecordSql/Read",
        "/WebService/Execute",
        "/WebHook/{code}",
    }
    assert set(document["paths"]["/WebHook/{code}"]) == {"parameters", "get", "post"}


def test_configured_recordsql_route_is_the_documented_path() -> None:
    """A tenant with its own RecordSql route shows that route, not the default."""
    settings = SimulatorSettings(recordsql_route="/Api/LectureRecordSql/")
    paths = openapi_document(settings)["paths"]
    assert "/Api/LectureRecordSql" in paths
    assert "/RecordSql/Read" not in paths
    assert paths["/Api/LectureRecordSql"]["post"]["operationId"] == "readRecordSql"


def test_recordsql_request_has_every_field_of_the_protocol(
    document: dict[str, Any],
) -> None:
    """The RecordSql body schema lists the protocol's fields; only two are required."""
    schema = document["components"]["schemas"]["RecordSqlRequest"]
    assert set(schema["properties"]) == PROTOCOL_RECORDSQL_FIELDS
    assert schema["required"] == ["dhoq", "recordsql"]


def test_login_and_service_bodies_require_their_documented_fields(
    document: dict[str, Any],
) -> None:
    """Login needs user and password; a service call needs action and param."""
    schemas = document["components"]["schemas"]
    assert schemas["LoginRequest"]["required"] == ["user", "password"]
    assert set(schemas["LoginRequest"]["properties"]) == {
        "user",
        "password",
        "domain",
        "env",
        "infos",
    }
    assert schemas["ServiceRequest"]["required"] == ["action", "param"]


def test_fault_rule_body_is_the_models_own_schema(document: dict[str, Any]) -> None:
    """The control endpoint's fault body is ``FaultRule.model_json_schema()``."""
    expected = FaultRule.model_json_schema(ref_template=REF_TEMPLATE)
    expected.pop("$defs")
    assert document["components"]["schemas"]["FaultRule"] == expected
    body = document["paths"]["/_simulator/faults"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FaultRule"
    }


def test_sites_and_environments_become_server_variable_enums() -> None:
    """Configured sites and environments limit the cloud server's variables."""
    settings = SimulatorSettings(sites=("654321", "111111"), environments=("PROD",))
    variables = openapi_document(settings)["servers"][0]["variables"]
    assert variables["site"]["enum"] == ["654321", "111111"]
    assert variables["site"]["default"] == "654321"
    assert variables["env"] == {
        "default": "PROD",
        "enum": ["PROD"],
        "description": "Environment code.",
    }


def test_service_examples_use_the_configured_action_codes() -> None:
    """The request examples name the tenant's own service and business actions."""
    settings = SimulatorSettings.model_validate(
        {"actions": {"xml_service": "MES_DEMANDES", "json_service": "MON_JSON"}}
    )
    document = openapi_document(settings)
    xml = example(document, "/WebService/Execute", "xmlDemand")
    assert xml["action"] == "MES_DEMANDES"
    action = example(document, "/WebService/Execute", "jsonAction")
    assert action["action"] == "MON_JSON"
    assert json.loads(action["param"])["action"]["swinfinity"] == "integration_piece"


def test_served_document_names_the_root_it_was_asked_on(
    divalto_simulator: RunningSimulator,
) -> None:
    """Both OpenAPI URLs serve the document, with the root it was asked on."""
    url = divalto_simulator.url
    served = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert served == divalto_simulator.control.openapi()
    assert served["servers"][0]["url"] == f"{url}/{{site}}/{{env}}/api/v1"
    assert served["paths"]["/_simulator/reset"]["servers"][0]["url"] == url


def test_login_and_recordsql_examples_work_against_the_simulator(
    document: dict[str, Any], wire: Wire
) -> None:
    """The documented login and RecordSql examples are answered with ``error`` 0."""
    login = wire.post("Authent/Auth", example(document, "/Authent/Auth"))
    assert login["error"] == 0
    body = example(document, "/RecordSql/Read")
    answer = wire.post(
        "RecordSql/Read", {**body, "access_token": login["access_token"]}
    )
    assert answer["error"] == 0, answer
    assert answer["nbrecord"] == 1
    assert answer["records"][0]["record"]["REF"] == "ALB0001"


def test_service_examples_work_against_the_simulator(
    document: dict[str, Any], wire: Wire
) -> None:
    """The documented XML demand and JSON action are answered with success."""
    xml = example(document, "/WebService/Execute", "xmlDemand")
    answer = wire.post("WebService/Execute", {**xml, "access_token": wire.token})
    assert answer["error"] == 0, answer
    assert "<erreur" not in answer["result"]
    assert "<disponible>" in answer["result"]

    action = example(document, "/WebService/Execute", "jsonAction")
    answer = wire.post("WebService/Execute", {**action, "access_token": wire.token})
    assert answer["error"] == 0, answer
    common = json.loads(answer["result"])["result"]["common"]
    assert common == {"resultcode": "0", "errormessage": ""}
