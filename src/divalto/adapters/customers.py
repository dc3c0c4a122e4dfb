"""Customers: read by code or external reference, and upsert without twins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from divalto.adapters._common import Adapter, settled
from divalto.adapters.errors import FieldConflict, UpdateConflict
from divalto.errors import DuplicateReference, ReferenceNotFound, VersionConflict
from divalto.mapping import MappingProfile
from divalto.models import Address, Customer
from divalto.recordsql import Record
from divalto.services import BusinessAction
from divalto.validation import ShopCustomer, validate_customer

__all__ = ["EDITABLE", "Customers", "wanted_fields"]

EDITABLE = [
    "name",
    "street",
    "postcode",
    "city",
    "country",
    "email",
    "phone",
    "vat_number",
    "payment_term",
    "price_family",
    "discount_family",
    "currency",
]
"""Customer fields an update may change (the address parts flattened)."""

_ADDRESS = ("street", "postcode", "city", "country")


def wanted_fields(
    shop: ShopCustomer, mapping: MappingProfile, *, creating: bool
) -> dict[str, str]:
    """The fields the shop states; an empty one keeps the ERP's value.

    A customer being created without a payment term gets the mapping's default
    one. What a creation sends is these fields (the empty ones left out) and
    the external reference, so a customer loaded beforehand with the same
    values is found by the upsert with nothing to update.
    """
    values = shop.model_dump(include=set(EDITABLE))
    values.update(shop.address.model_dump())
    if not values["payment_term"] and creating:
        values["payment_term"] = mapping.customer_codes.default_payment_term
    return {
        name: str(values[name])
        for name in EDITABLE
        if values.get(name) or name == "name"
    }


def flat(customer: Customer) -> dict[str, str]:
    """The editable fields of a customer, address parts included, as text."""
    values = customer.model_dump(include=set(EDITABLE))
    values.update(customer.address.model_dump())
    return {name: str(values[name]) for name in EDITABLE}


class Customers(Adapter):
    """Customers of the dossier.

    ``upsert`` finds a shop's customer by the external reference that the mapping
    builds (``shopify:4401``) and creates it only when absent; the ERP refuses a
    second customer with the same reference, so a retried creation cannot make a
    twin. Updates name the version they read: a stale one is re-read and only the
    changed fields are applied again (:meth:`update`).
    """

    def get(self, code: str) -> Customer:
        """The customer ``code``; raises ReferenceNotFound."""
        record = self.records.first(self.where("customers", "by_code", code))
        if record is None:
            raise ReferenceNotFound(f"customer '{code}' not found")
        return self._decoded(record)

    def find_by_external_reference(self, reference: str) -> Customer | None:
        """The customer carrying external reference ``reference``, or None."""
        query = self.where("customers", "by_external_reference", reference)
        record = self.records.first(query)
        return None if record is None else self._decoded(record)

    def external_reference(self, shop: ShopCustomer) -> str:
        """The external reference the mapping gives a shop customer."""
        return self.mapping.customer_codes.external_reference.format(
            source=shop.source, id=shop.id
        )

    def upsert(self, shop: ShopCustomer | Mapping[str, Any]) -> Customer:
        """The shop's customer in the ERP, created or brought up to date.

        Raises PayloadInvalid before any call, ReferenceNotFound for an unknown
        payment term or family, UpdateConflict when another writer changed the
        same fields differently. A creation whose answer was lost is looked up
        by its external reference before it is sent again.
        """
        checked = validate_customer(shop, self.mapping)
        reference = self.external_reference(checked)
        current = self.find_by_external_reference(reference)
        if current is None:
            try:
                return settled(
                    lambda: self._create(checked, reference),
                    lambda: self.find_by_external_reference(reference),
                )
            except DuplicateReference:
                current = self.find_by_external_reference(reference)
                if current is None:
                    raise
        return self.update(current, self._wanted(checked, current))

    def update(self, base: Customer, changes: Mapping[str, str]) -> Customer:
        """Apply ``changes`` to the customer as read in ``base``.

        Only fields whose value differs from ``base`` are sent. If the customer
        changed since ``base`` was read, it is read again: fields the other writer
        changed to another value than ours raise :class:`UpdateConflict` (nothing
        is written); otherwise the remaining changes are sent on the new version.
        Raises ValueError for a field that is not editable.
        """
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise ValueError(f"not editable customer fields: {', '.join(unknown)}")
        wanted = {
            name: value for name, value in changes.items() if flat(base)[name] != value
        }
        if not wanted:
            return base
        try:
            return self._send_update(base.code, base.version, wanted)
        except VersionConflict:
            return self._reapply(base, wanted)

    def _reapply(self, base: Customer, wanted: dict[str, str]) -> Customer:
        current = self.get(base.code)
        before, now = flat(base), flat(current)
        clashes = [
            FieldConflict(name, before[name], now[name], value)
            for name, value in wanted.items()
            if now[name] != before[name] and now[name] != value
        ]
        if clashes:
            raise UpdateConflict(f"customer '{base.code}'", clashes)
        remaining = {
            name: value for name, value in wanted.items() if now[name] != value
        }
        if not remaining:
            return current
        return self._send_update(current.code, current.version, remaining)

    def _send_update(
        self, code: str, version: int, changes: Mapping[str, str]
    ) -> Customer:
        names = self.mapping.wire.client
        fields = {names[name]: value for name, value in changes.items()}
        fields[names["code"]] = code
        fields[names["version"]] = str(version)
        self.run(BusinessAction.UPDATE_CUSTOMER, {self.group("customer"): fields})
        return self.get(code)

    def _create(self, shop: ShopCustomer, reference: str) -> Customer:
        names = self.mapping.wire.client
        values = self._wanted(shop, None)
        fields = {names[name]: value for name, value in values.items() if value}
        fields[names["external_reference"]] = reference
        code = self._code_for(shop)
        if code:
            fields[names["code"]] = code
        response = self.run(
            BusinessAction.CREATE_CUSTOMER, {self.group("customer"): fields}
        )
        created = response.get(self.group("client")) or {}
        return self.get(str(created.get(self.mapping.wire.client_response["code"])))

    def _code_for(self, shop: ShopCustomer) -> str:
        codes = self.mapping.customer_codes
        if codes.strategy == "erp":
            return ""
        return codes.template.format(source=shop.source, id=shop.id)

    def _wanted(self, shop: ShopCustomer, current: Customer | None) -> dict[str, str]:
        return wanted_fields(shop, self.mapping, creating=current is None)

    def _decoded(self, record: Record) -> Customer:
        def value(attribute: str) -> str:
            return self.field(record, "customers", attribute)

        reference = value("external_reference")
        return Customer(
            code=value("code"),
            name=value("name"),
            addresses=(Address(**{part: value(part) for part in _ADDRESS}),),
            email=value("email"),
            phone=value("phone"),
            vat_number=value("vat_number"),
            payment_term=value("payment_term"),
            payment_term_label=value("payment_term_label"),
            price_family=value("price_family"),
            discount_family=value("discount_family"),
            currency=value("currency"),
            external_references=(reference,) if reference else (),
            version=int(value("version") or 1),
        )
