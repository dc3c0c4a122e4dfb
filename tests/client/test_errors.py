"""``classify``: real answers and failures of the simulator become errors of the tree.

Responses come from the simulator over loopback, through plain httpx, so that
``classify`` sees exactly what the wire gave.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from divalto import errors
from divalto.errors import ErrorCodes, ErrorContext, classify, retry_after_seconds
from divalto.telemetry import MASK, register_secret
from divalto.testing import RunningSimulator

CONTEXT = ErrorContext(
    endpoint="recordsql",
    action="GTRSFOU.dhoq/Fournisseur",
    trace_id="t-9",
    dictionary="GTRSFOU.dhoq",
)


class Raw:
    """Plain httpx on the simulator: a token, and POSTs that return the response."""

    def __init__(self, simulator: RunningSimulator) -> None:
        self.http = httpx.Client(base_url=simulator.base_url, timeout=10)
        answer = self.http.post(
            "Authent/Auth", json={"user": "DEMO", "password": "demo"}
        ).json()
        self.token = answer["access_token"]

    def read(self, dhoq: str = "GTRSART.dhoq", **fields: Any) -> httpx.Response:
        body = {"dhoq": dhoq, "recordsql": "Article", "access_token": self.token}
        return self.http.post("RecordSql/Read", json={**body, **fields})


@pytest.fixture
def raw(divalto_simulator: RunningSimulator) -> Iterator[Raw]:
    client = Raw(divalto_simulator)
    try:
        yield client
    finally:
        client.http.close()


def test_a_dictionary_not_authorised_names_the_dictionary(raw: Raw) -> None:
    """Error 20 on a closed dictionary names it and keeps the ERP's text."""
    response = raw.read("GTRSFOU.dhoq", recordsql="Fournisseur")

    error = classify(response, CONTEXT)
    erp_text = "Dictionary 'GTRSFOU.dhoq' is not authorised for the API"

    assert isinstance(error, errors.DictionaryNotAuthorised)
    assert error.dictionary == "GTRSFOU.dhoq"
    assert error.to_dict() == {
        "type": "DictionaryNotAuthorised",
        "category": "auth",
        "code": "auth.dictionary_not_authorised",
        "retryable": False,
        "suggested_action": "escalate",
        "message": (
            f"dictionary 'GTRSFOU.dhoq' is not authorised for the API: {erp_text}"
        ),
        "endpoint": "recordsql",
        "action": "GTRSFOU.dhoq/Fournisseur",
        "erp_error": 20,
        "erp_text": erp_text,
        "resultcode": None,
        "errormessage": None,
        "http_status": 200,
        "trace_id": "t-9",
    }


@pytest.mark.parametrize(
    ("code", "kind", "category"),
    [
        (1, errors.RequestRejected, "contract"),
        (5, errors.RequestRejected, "contract"),
        (10, errors.CredentialsRejected, "auth"),
        (11, errors.TokenRejected, "auth"),
        (14, errors.TokenRejected, "auth"),
        (21, errors.QueryRejected, "contract"),
        (29, errors.QueryRejected, "contract"),
        (30, errors.RequestRejected, "contract"),
        (31, errors.RequestRejected, "contract"),
        (99, errors.ServerUnavailable, "transient"),
        (512, errors.ServerUnavailable, "transient"),
    ],
)
def test_error_envelopes_are_classified_by_their_number(
    raw: Raw,
    divalto_simulator: RunningSimulator,
    code: int,
    kind: type[errors.DivaltoError],
    category: str,
) -> None:
    """HTTP 200 with ``error`` ≠ 0 is an error of the category its number says."""
    divalto_simulator.control.add_fault("error", error_code=code, txterr="Refus")

    error = classify(raw.read(), CONTEXT)

    assert type(error) is kind
    assert (error.category.value, error.erp_error, error.erp_text) == (
        category,
        code,
        "Refus",
    )
    assert (error.http_status, error.trace_id) == (200, "t-9")


def test_an_unlisted_error_number_is_an_erp_failure_with_a_known_outcome(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """Error 99 is transient, and the ERP answered: the call was not applied."""
    divalto_simulator.control.add_fault("error", txterr="Injected failure")

    error = classify(raw.read(), CONTEXT)

    assert isinstance(error, errors.ServerUnavailable)
    assert error.message == "the ERP failed with error 99: Injected failure"
    assert error.outcome_unknown is False


def test_other_error_numbers_can_be_given_in_the_settings(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """A tenant whose 99 means a rejected query sets it so."""
    divalto_simulator.control.add_fault("error", txterr="Requête refusée")
    codes = ErrorCodes(query_rejected=frozenset({99}))

    error = classify(raw.read(), CONTEXT, codes=codes)

    assert isinstance(error, errors.QueryRejected)
    assert error.message == "the ERP rejected the query: Requête refusée"


def test_a_secret_the_erp_echoes_is_masked_in_the_error(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """A txterr that quotes a registered password reaches no error text."""
    register_secret("Echoed-Pa55")
    divalto_simulator.control.add_fault(
        "error", error_code=2, txterr="Bad field password=Echoed-Pa55"
    )

    error = classify(raw.read(), CONTEXT)

    assert error.erp_text == f"Bad field password={MASK}"
    assert error.message == f"the ERP rejected the request: Bad field password={MASK}"


def test_a_real_query_error_keeps_the_erp_text(raw: Raw) -> None:
    """An unknown WHERE case is a QueryRejected with the simulator's own text."""
    error = classify(raw.read(where="No_Such_Case"), CONTEXT)

    assert isinstance(error, errors.QueryRejected)
    assert error.erp_error == 23
    assert error.message == (
        "the ERP rejected the query: "
        "Unknown WHERE case 'No_Such_Case' for RecordSql 'GTRSART.dhoq/Article'"
    )


def test_a_wrong_password_names_the_user_and_not_the_password(
    raw: Raw,
) -> None:
    """Error 10 on the login is CredentialsRejected naming the user."""
    response = raw.http.post(
        "Authent/Auth", json={"user": "API_SYNC", "password": "Not-It-42"}
    )
    context = ErrorContext(endpoint="login", action="login", user="API_SYNC")

    error = classify(response, context)

    assert isinstance(error, errors.CredentialsRejected)
    assert error.message == (
        "the ERP refused the login of user 'API_SYNC': "
        "Authentication refused for user 'API_SYNC'"
    )
    assert "Not-It-42" not in repr(error.to_dict())


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (
            401,
            errors.ApiKeyRejected,
            "the ERP refused the API key (HTTP 401): expired or revoked",
        ),
        (403, errors.PermissionDenied, "the account may not do this (HTTP 403)"),
        (
            404,
            errors.RequestRejected,
            "the server refused the request with HTTP 404 (an HTML page)",
        ),
        (
            500,
            errors.ServerUnavailable,
            "the server failed with HTTP 500 (an HTML page)",
        ),
        (
            503,
            errors.ServerUnavailable,
            "the server failed with HTTP 503 (an HTML page)",
        ),
    ],
)
def test_http_statuses_are_classified(
    raw: Raw,
    divalto_simulator: RunningSimulator,
    status: int,
    kind: type[errors.DivaltoError],
    message: str,
) -> None:
    """A proxy's HTML page is classified by its status, never parsed as data."""
    divalto_simulator.control.add_fault("http_error", status=status)

    error = classify(raw.read(), CONTEXT)

    assert type(error) is kind
    assert (error.message, error.http_status) == (message, status)


def test_a_503_proves_the_call_was_not_applied_and_a_502_does_not(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """Behind a 502 the ERP may have applied the call; behind a 503 it did not."""
    divalto_simulator.control.add_fault("http_error", status=502, nth=1)
    divalto_simulator.control.add_fault("http_error", status=503, nth=2)

    bad_gateway = classify(raw.read(), CONTEXT)
    unavailable = classify(raw.read(), CONTEXT)

    assert isinstance(bad_gateway, errors.TransientError)
    assert isinstance(unavailable, errors.TransientError)
    assert (bad_gateway.outcome_unknown, unavailable.outcome_unknown) == (True, False)


def test_a_rate_limit_carries_the_retry_after_seconds(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """HTTP 429 with ``Retry-After: 12`` is RateLimited with retry_after 12."""
    divalto_simulator.control.add_fault("rate_limit", retry_after_seconds=12)

    error = classify(raw.read(), CONTEXT)

    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 12.0
    assert error.message == "the ERP asked to slow down (HTTP 429, retry after 12 s)"


def test_a_rate_limit_with_an_http_date_gives_the_seconds_until_it(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """``Retry-After`` as a date is the wait from ``now`` to that date."""
    divalto_simulator.control.add_fault(
        "rate_limit", retry_after_seconds=30, retry_after_http_date=True
    )
    response = raw.read()
    date = response.headers["Retry-After"]
    moment = retry_after_seconds(date, 0.0)
    assert moment is not None

    error = classify(response, CONTEXT, now=moment - 30.0)

    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 30.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (formatdate(1_000_045.0, usegmt=True), 45.0),
        (formatdate(999_000.0, usegmt=True), 0.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_values_are_read_as_seconds_or_dates(
    value: str | None, seconds: float | None
) -> None:
    """Delay seconds are taken as is, a date relative to now, garbage as None."""
    assert retry_after_seconds(value, 1_000_000.0) == seconds


def test_a_cut_json_answer_is_a_truncated_response(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """A 200 answer whose JSON stops halfway is ResponseTruncated, outcome unknown."""
    divalto_simulator.control.add_fault("truncated_body", truncate_ratio=0.5)
    response = raw.read()

    error = classify(response, CONTEXT)

    assert isinstance(error, errors.ResponseTruncated)
    assert error.message == (
        f"the answer's JSON is cut short after {len(response.content)} bytes"
    )
    assert error.outcome_unknown is True


def test_an_empty_answer_is_server_unavailable(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """A 200 answer with no body at all is ServerUnavailable."""
    divalto_simulator.control.add_fault("truncated_body", truncate_ratio=0.0)

    error = classify(raw.read(), CONTEXT)

    assert isinstance(error, errors.ServerUnavailable)
    assert error.message == "an empty answer instead of JSON"


def test_an_html_page_with_status_200_is_server_unavailable() -> None:
    """A proxy's maintenance page sent with 200 is not data."""
    page = b"<!DOCTYPE html><html><body>Maintenance</body></html>"
    response = httpx.Response(200, content=page)

    error = classify(response, CONTEXT)

    assert isinstance(error, errors.ServerUnavailable)
    assert error.message == "an HTML page instead of JSON"


def test_an_answer_without_the_error_field_is_invalid() -> None:
    """JSON that is not Divalto's envelope breaks the protocol's shape."""
    error = classify(httpx.Response(200, json={"records": []}), CONTEXT)

    assert isinstance(error, errors.ResponseInvalid)
    assert error.message == "an answer without the envelope's 'error'"


def test_a_read_timeout_is_a_timeout_with_an_unknown_outcome(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """No answer after the request was sent: the outcome is unknown."""
    divalto_simulator.control.add_fault("timeout_before", hang_seconds=5)

    body = {"dhoq": "GTRSART.dhoq", "recordsql": "Article"}

    with pytest.raises(httpx.ReadTimeout) as raised:
        raw.http.post("RecordSql/Read", json=body, timeout=0.2)
    error = classify(raised.value, CONTEXT)

    assert isinstance(error, errors.RequestTimeout)
    assert error.outcome_unknown is True
    assert error.message == (
        "no answer in time once the request was sent (ReadTimeout: timed out)"
    )


def test_a_reset_connection_is_a_connection_failure_with_an_unknown_outcome(
    raw: Raw, divalto_simulator: RunningSimulator
) -> None:
    """A connection reset once the request was sent leaves the outcome unknown."""
    divalto_simulator.control.add_fault("connection_reset")

    with pytest.raises(httpx.TransportError) as raised:
        raw.read()
    error = classify(raised.value, CONTEXT)

    assert isinstance(error, errors.ConnectionFailed)
    assert error.outcome_unknown is True


def test_a_refused_connection_is_a_failure_before_sending() -> None:
    """Nothing listens on the port: ConnectionFailed, the call was not sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(httpx.ConnectError) as raised:
        httpx.post(f"http://127.0.0.1:{port}/", timeout=2)
    error = classify(raised.value, CONTEXT)

    assert isinstance(error, errors.ConnectionFailed)
    assert error.outcome_unknown is False


@pytest.mark.parametrize(
    ("exception", "kind", "unknown"),
    [
        (httpx.ConnectTimeout("timed out"), errors.RequestTimeout, False),
        (httpx.PoolTimeout("timed out"), errors.RequestTimeout, False),
        (httpx.WriteTimeout("timed out"), errors.RequestTimeout, True),
        (httpx.RemoteProtocolError("gone"), errors.ConnectionFailed, True),
        (httpx.ProxyError("no proxy"), errors.ConnectionFailed, False),
    ],
)
def test_transport_exceptions_say_whether_the_request_was_sent(
    exception: httpx.HTTPError, kind: type[errors.TransientError], unknown: bool
) -> None:
    """Connect and pool timeouts were never sent; write timeouts may have been."""
    error = classify(exception, CONTEXT)

    assert type(error) is kind
    assert isinstance(error, errors.TransientError)
    assert error.outcome_unknown is unknown
    assert (error.endpoint, error.trace_id) == ("recordsql", "t-9")


def test_a_profile_problem_is_a_contract_error_of_the_tree() -> None:
    """ProfileInvalid sits under ContractError with its own code."""
    error = errors.ProfileInvalid("profile 'x' refused: user: Field required")

    assert isinstance(error, errors.ContractError)
    assert str(error) == (
        "profile 'x' refused: user: Field required [contract.profile_invalid]"
    )
