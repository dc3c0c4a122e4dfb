"""Fixtures of the adapter tests: each test runs once per tenant.

Tenant ``default`` is the session's simulator with the bundled mapping profile.
Tenant ``renamed`` is a second simulator whose RecordSql fields, business actions
and document type codes are spelt otherwise, read through ``renamed.toml``: the
same tests pass on both without a code change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from divalto.adapters import Adapters
from divalto.client import Divalto
from divalto.mapping import MappingProfile, default_mapping, load_mapping
from divalto.models import DocumentKind
from divalto.settings import load_profile
from divalto.simulator import SimulatorServer, SimulatorSettings
from divalto.simulator.settings import ActionNames, DocumentTypes
from divalto.testing import RunningSimulator, SimulatorControl

RENAMED_SETTINGS = SimulatorSettings(
    field_renames={
        "GTRSTIERS.dhoq/Client": {
            "TIERS": "CODE_TIERS",
            "NOM": "RAISON_SOCIALE",
            "RUE": "ADRESSE",
            "VIL": "VILLE",
            "PAY": "PAYS",
            "EMAIL": "MAIL",
            "TVANO": "NUM_TVA",
            "DEV": "DEVISE",
            "REFEXT": "REF_EXTERNE",
            "REG_LIB": "REGLEMENT",
        },
        "GTRSART.dhoq/Article": {
            "REF": "CODE_ARTICLE",
            "DES": "LIBELLE",
            "FAM": "FAMILLE",
            "TVAART": "CODE_TVA",
            "TVA_TAUX": "TAUX_TVA",
            "STFL": "GERE_STOCK",
            "PUB": "PRIX_BASE",
        },
        "GTRSART.dhoq/SousRef": {"SREF1": "TAILLE", "SREF2": "COULEUR"},
    },
    actions=ActionNames(
        create_document="creer_piece",
        create_customer="creer_client",
        update_customer="maj_client",
        transfer_document="transformer_piece",
        stock_movement="mvt_stock",
        document_state="lire_piece",
        cancel_document="annuler_piece",
    ),
    document_types=DocumentTypes(
        quote=11, order=12, delivery=13, invoice=14, credit_note=15
    ),
)


@dataclass
class Tenant:
    """One tenant under test: its simulator, mapping, client and adapters."""

    name: str
    simulator: RunningSimulator
    mapping: MappingProfile
    erp: Divalto
    adapters: Adapters

    @property
    def control(self) -> SimulatorControl:
        return self.simulator.control

    def picod(self, kind: DocumentKind) -> str:
        return self.mapping.picod(kind)

    def stock_of(self, ref: str, depot: str, sref1: str = "") -> Decimal:
        rows = self.control.table("STOCK", REF=ref, DEPO=depot)
        return sum(
            (Decimal(row["QTESTK"]) for row in rows if row["SREF1"] == sref1),
            Decimal(0),
        )


@pytest.fixture(scope="session")
def renamed_simulator_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(RENAMED_SETTINGS) as server:
        yield server


@pytest.fixture(params=["default", "renamed"])
def tenant(
    request: pytest.FixtureRequest,
    divalto_simulator: RunningSimulator,
) -> Iterator[Tenant]:
    """Each tenant in turn, its simulator reset to the seed."""
    if request.param == "default":
        simulator, mapping = divalto_simulator, default_mapping()
    else:
        server = request.getfixturevalue("renamed_simulator_server")
        control = SimulatorControl(server.url)
        control.reset()
        simulator = RunningSimulator(server, control)
        mapping = load_mapping(Path(__file__).with_name("renamed.toml"))
    profile = load_profile(
        "sim",
        base_url=simulator.base_url,
        dossier="998",
        user="DEMO",
        password="demo",
        retry={"attempts": 2, "wait_initial": 0.01, "wait_jitter": 0.0},
    )
    with Divalto(profile) as erp:
        yield Tenant(request.param, simulator, mapping, erp, Adapters(erp, mapping))
    if simulator is not divalto_simulator:
        simulator.control.close()
