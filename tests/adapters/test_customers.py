"""The customers adapter against both tenants."""

from __future__ import annotations

import pytest

from divalto.adapters import FieldConflict, UpdateConflict
from divalto.errors import ReferenceNotFound
from divalto.models import Address, Customer
from divalto.validation import PayloadInvalid, ShopCustomer

from .conftest import Tenant

KLEBER = ShopCustomer(
    source="shopify",
    id="4401",
    name="Brasserie Kléber",
    address=Address(
        street="5 place Kléber", postcode="67000", city="Strasbourg", country="FR"
    ),
    email="compta@example.com",
)
NEW_CODE = {"default": "C0000005", "renamed": "W0004401"}
NEW_REFERENCE = {"default": "shopify:4401", "renamed": "shopify/4401"}
NEW_TERM = {"default": ("30J", "30 jours net"), "renamed": ("CPT", "Comptant")}


def creations(tenant: Tenant) -> list[dict[str, object]]:
    name = tenant.mapping.actions.create_customer
    return [e for e in tenant.control.requests() if e.get("action") == name]


def test_get_reads_every_field_of_a_customer(tenant: Tenant) -> None:
    """A customer read by code carries its address, terms, families and version."""
    customer = tenant.adapters.customers.get("C0000001")

    assert customer == Customer(
        code="C0000001",
        name="Client démonstration",
        addresses=(
            Address(
                street="1 rue de la Démo",
                postcode="67000",
                city="Strasbourg",
                country="FR",
            ),
        ),
        email="demo@example.com",
        vat_number="FR12345678901",
        payment_term="30J",
        payment_term_label="30 jours net",
        price_family="GROS",
        discount_family="FID",
        currency="EUR",
        version=1,
    )


def test_get_of_an_unknown_code_raises_reference_not_found(tenant: Tenant) -> None:
    """An unknown customer code is a ReferenceNotFound naming the code."""
    with pytest.raises(ReferenceNotFound, match="customer 'C0009999' not found"):
        tenant.adapters.customers.get("C0009999")


def test_upsert_creates_a_new_shop_customer_with_the_mapped_code(
    tenant: Tenant,
) -> None:
    """A shop customer unknown to the ERP is created with the profile's code rule."""
    customer = tenant.adapters.customers.upsert(KLEBER)

    term, label = NEW_TERM[tenant.name]
    assert customer.code == NEW_CODE[tenant.name]
    assert customer.external_references == (NEW_REFERENCE[tenant.name],)
    assert (customer.name, customer.address.city) == ("Brasserie Kléber", "Strasbourg")
    assert (customer.payment_term, customer.payment_term_label) == (term, label)
    assert customer.version == 1
    assert len(creations(tenant)) == 1


def test_upsert_twice_never_creates_a_twin(tenant: Tenant) -> None:
    """The second upsert finds the customer by external reference: no new customer."""
    first = tenant.adapters.customers.upsert(KLEBER)
    second = tenant.adapters.customers.upsert(KLEBER)

    assert second == first
    assert len(creations(tenant)) == 1
    assert len(tenant.control.table("CLI", REFEXT=NEW_REFERENCE[tenant.name])) == 1


def test_upsert_updates_only_what_changed(tenant: Tenant) -> None:
    """An upsert with a new phone changes the phone and counts one version."""
    tenant.adapters.customers.upsert(KLEBER)
    moved = KLEBER.model_copy(update={"phone": "03 88 00 00 00"})

    customer = tenant.adapters.customers.upsert(moved)

    assert (customer.phone, customer.email, customer.version) == (
        "03 88 00 00 00",
        "compta@example.com",
        2,
    )


def test_find_by_external_reference_returns_none_when_absent(tenant: Tenant) -> None:
    """No customer carries the reference: None, not an error."""
    assert tenant.adapters.customers.find_by_external_reference("shop:none") is None


def test_upsert_refuses_a_bad_payload_before_any_call(tenant: Tenant) -> None:
    """Every problem of a shop customer is reported at once and nothing is sent."""
    with pytest.raises(PayloadInvalid) as caught:
        tenant.adapters.customers.upsert(
            {
                "source": "shop",
                "id": "7",
                "name": "",
                "email": "nope",
                "currency": "JPY",
            }
        )

    assert [str(problem) for problem in caught.value.problems] == [
        "name: String should have at least 1 character",
        "currency: 'JPY' is not one of " + ", ".join(tenant.mapping.currencies),
        "email: 'nope' is not an e-mail address",
    ]
    assert tenant.control.requests() == []


def test_stale_update_reapplies_only_its_own_fields(tenant: Tenant) -> None:
    """An update on a stale version re-reads and keeps the other writer's change."""
    customers = tenant.adapters.customers
    read = customers.get("C0000002")
    customers.update(read, {"phone": "02 41 00 00 00"})

    updated = customers.update(read, {"email": "compta@atelier.example"})

    assert (updated.phone, updated.email, updated.version) == (
        "02 41 00 00 00",
        "compta@atelier.example",
        3,
    )


def test_conflict_on_the_same_field_is_reported_not_overwritten(
    tenant: Tenant,
) -> None:
    """Two writers changing the e-mail differently: the second gets UpdateConflict."""
    customers = tenant.adapters.customers
    read = customers.get("C0000002")
    customers.update(read, {"email": "first@atelier.example"})

    with pytest.raises(UpdateConflict) as caught:
        customers.update(read, {"email": "second@atelier.example"})

    assert caught.value.conflicts == [
        FieldConflict(
            "email",
            "atelier@example.com",
            "first@atelier.example",
            "second@atelier.example",
        )
    ]
    after = customers.get("C0000002")
    assert (after.email, after.version) == ("first@atelier.example", 2)


def test_update_with_nothing_changed_sends_nothing(tenant: Tenant) -> None:
    """Changes equal to what was read are no change: no call, the customer as read."""
    read = tenant.adapters.customers.get("C0000002")
    before = len(tenant.control.requests())

    assert tenant.adapters.customers.update(read, {"city": "Angers"}) is read
    assert len(tenant.control.requests()) == before
