"""Products: articles with their variants, and availability per line."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

from divalto.adapters._common import Adapter, decimal_of
from divalto.errors import ReferenceNotFound
from divalto.models import Availability, LineAvailability, Product, SubReference
from divalto.recordsql import Record
from divalto.validation import OrderLineRequest

__all__ = ["Products"]

_FLAG_YES = "2"


class Products(Adapter):
    """Articles of the dossier (RecordSql) and their stock (``INTERROGER_STOCK``)."""

    def get(self, ref: str) -> Product:
        """The article ``ref`` with its sub-references; raises ReferenceNotFound."""
        product = self.find(ref)
        if product is None:
            raise ReferenceNotFound(f"article '{ref}' not found")
        return product

    def find(self, ref: str) -> Product | None:
        """The article ``ref``, or None."""
        record = self.records.first(self.where("products", "by_code", ref))
        return None if record is None else self._with_variants(record)

    def list(self, family: str | None = None) -> Iterator[Product]:
        """Every article (of ``family``), paged safely in the ERP's identity order.

        Sub-references are read for the articles that have some, one read each.
        """
        query = (
            self.query("products")
            if family is None
            else self.where("products", "by_family", family)
        )
        for record in self.records.read(query):
            yield self._with_variants(record)

    def availability(
        self, lines: Sequence[OrderLineRequest], depot: str | None = None
    ) -> Availability:
        """Whether each line can be served from its depot, line by line.

        A line's depot is its own, else ``depot``, else the mapping's default.
        Lines of one article in one place share its stock, in line order. An
        article that is not stock-managed (a service) is available as asked.
        Raises ReferenceNotFound for an unknown article or depot.
        """
        used: dict[tuple[str, str, str, str], Decimal] = {}
        managed: dict[str, bool] = {}
        result = []
        for number, line in enumerate(lines, start=1):
            place = line.depot or depot or self.mapping.default_depot
            if line.ref not in managed:
                managed[line.ref] = self._stock_managed(line.ref)
            key = (line.ref, line.sref1, line.sref2, place)
            left = line.quantity
            if managed[line.ref]:
                left = self._available(*key) - used.get(key, Decimal(0))
                used[key] = used.get(key, Decimal(0)) + line.quantity
            result.append(
                LineAvailability(
                    line=number,
                    ref=line.ref,
                    sref1=line.sref1,
                    sref2=line.sref2,
                    depot=place,
                    requested=line.quantity,
                    available=left,
                )
            )
        return Availability(lines=tuple(result))

    def _stock_managed(self, ref: str) -> bool:
        record = self.records.first(self.where("products", "by_code", ref))
        if record is None:
            raise ReferenceNotFound(f"article '{ref}' not found")
        return self.field(record, "products", "stock_managed") == _FLAG_YES

    def _available(self, ref: str, sref1: str, sref2: str, depot: str) -> Decimal:
        answer = self.services.stock(
            ref, depot=depot, sref1=sref1 or None, sref2=sref2 or None
        )
        return sum((level.available for level in answer.levels), Decimal(0))

    def _with_variants(self, record: Record) -> Product:
        def value(attribute: str) -> str:
            return self.field(record, "products", attribute)

        has_variants = value("has_sub_references") == _FLAG_YES
        rate, price = value("vat_rate"), value("base_price")
        return Product(
            ref=value("ref"),
            label=value("label"),
            family=value("family"),
            unit=value("unit"),
            vat_code=value("vat_code"),
            vat_rate=decimal_of(rate, "vat_rate") if rate else None,
            stock_managed=value("stock_managed") == _FLAG_YES,
            has_sub_references=has_variants,
            sub_references=self._variants(value("ref")) if has_variants else (),
            base_price=decimal_of(price, "base_price") if price else None,
        )

    def _variants(self, ref: str) -> tuple[SubReference, ...]:
        query = self.where("sub_references", "by_ref", ref)
        return tuple(
            SubReference(
                sref1=self.field(record, "sub_references", "sref1"),
                sref2=self.field(record, "sub_references", "sref2"),
            )
            for record in self.records.read(query)
        )
