"""The products and stock adapters against both tenants."""

from __future__ import annotations

from decimal import Decimal

import pytest

from divalto.errors import BusinessRuleRejected, InsufficientStock, ReferenceNotFound
from divalto.models import LineAvailability, Product, StockLevel, StockMovement
from divalto.validation import OrderLineRequest, PayloadInvalid

from .conftest import Tenant


def test_get_reads_an_article_with_its_variants(tenant: Tenant) -> None:
    """An article with sub-references lists its pairs, in the ERP's order."""
    product = tenant.adapters.products.get("BLO0001")

    assert product == Product(
        ref="BLO0001",
        label="Blouson mi-saison",
        family="TEXTILE",
        unit="U",
        vat_code="1",
        vat_rate=Decimal("20.00"),
        stock_managed=True,
        has_sub_references=True,
        sub_references=(
            {"sref1": "XL", "sref2": "BLEU"},
            {"sref1": "L", "sref2": "BLEU"},
            {"sref1": "XL", "sref2": "ROUGE"},
        ),
        base_price=Decimal("89.90"),
    )


def test_a_service_article_is_not_stock_managed(tenant: Tenant) -> None:
    """PORT is a service: not stock-managed, no variants, price 0."""
    product = tenant.adapters.products.get("PORT")

    assert (product.stock_managed, product.sub_references, product.base_price) == (
        False,
        (),
        Decimal("0"),
    )


def test_get_of_an_unknown_article_raises(tenant: Tenant) -> None:
    """An unknown reference is a ReferenceNotFound naming it."""
    with pytest.raises(ReferenceNotFound, match="article 'XYZ' not found"):
        tenant.adapters.products.get("XYZ")


def test_list_reads_every_article_or_one_family(tenant: Tenant) -> None:
    """Listing pages every article; a family keeps only its own."""
    every = [product.ref for product in tenant.adapters.products.list()]
    services = [p.ref for p in tenant.adapters.products.list(family="SERVICE")]

    assert every[:6] == ["ALB0001", "BLO0001", "CAF0001", "PORT", "REMISE", "FRAIS"]
    assert len(every) == len(set(every)) == len(tenant.control.table("ART")) == 83
    assert services == ["PORT", "REMISE", "FRAIS"]


def test_availability_is_reported_per_line(tenant: Tenant) -> None:
    """Lines on one place share its stock; each line says what it misses."""
    lines = [
        OrderLineRequest(ref="ALB0001", quantity=Decimal(100)),
        OrderLineRequest(ref="ALB0001", quantity=Decimal(10)),
        OrderLineRequest(ref="BLO0001", sref1="XL", sref2="BLEU", quantity=10),
        OrderLineRequest(ref="ALB0001", quantity=Decimal(5), depot="2"),
    ]

    availability = tenant.adapters.products.availability(lines)

    assert availability.lines == (
        LineAvailability(
            line=1, ref="ALB0001", depot="1", requested=100, available=100
        ),
        LineAvailability(line=2, ref="ALB0001", depot="1", requested=10, available=0),
        LineAvailability(
            line=3,
            ref="BLO0001",
            sref1="XL",
            sref2="BLEU",
            depot="1",
            requested=10,
            available=8,
        ),
        LineAvailability(line=4, ref="ALB0001", depot="2", requested=5, available=15),
    )
    assert [line.missing for line in availability.short_lines] == [10, 2]
    assert availability.complete is False


def test_levels_per_depot(tenant: Tenant) -> None:
    """Stock levels of a plain article, one per depot."""
    assert tenant.adapters.stock.levels("ALB0001") == [
        StockLevel(ref="ALB0001", depot="1", physical=120, reserved=20, available=100),
        StockLevel(ref="ALB0001", depot="2", physical=15, reserved=0, available=15),
    ]


def test_levels_of_one_variant_in_one_depot(tenant: Tenant) -> None:
    """A variant asked in one depot gives exactly that level."""
    levels = tenant.adapters.stock.levels(
        "BLO0001", depot="1", sref1="XL", sref2="BLEU"
    )

    assert levels == [
        StockLevel(
            ref="BLO0001",
            sref1="XL",
            sref2="BLEU",
            depot="1",
            physical=8,
            reserved=0,
            available=8,
        )
    ]


def test_move_takes_stock_out_and_reports_before_and_after(tenant: Tenant) -> None:
    """An exit of 2 leaves 6 of 8, in the answer and in the ERP."""
    movement = tenant.adapters.stock.move(
        "BLO0001",
        Decimal(2),
        entry=False,
        reason="Display sample",
        sref1="XL",
        sref2="BLEU",
    )

    assert movement == StockMovement(
        ref="BLO0001",
        sref1="XL",
        sref2="BLEU",
        depot="1",
        entry=False,
        quantity=2,
        reason="Display sample",
        physical_before=8,
        physical_after=6,
    )
    assert tenant.stock_of("BLO0001", "1", "XL") == 6


def test_move_puts_stock_in(tenant: Tenant) -> None:
    """An entry of 5 in depot 2 raises 15 to 20."""
    movement = tenant.adapters.stock.move(
        "ALB0001", Decimal(5), entry=True, reason="Return", depot="2"
    )

    assert (movement.physical_before, movement.physical_after) == (15, 20)
    assert tenant.stock_of("ALB0001", "2") == 20


def test_move_beyond_the_stock_is_refused(tenant: Tenant) -> None:
    """An exit beyond the physical stock raises InsufficientStock; nothing moves."""
    with pytest.raises(InsufficientStock) as caught:
        tenant.adapters.stock.move(
            "ALB0001", Decimal(16), entry=False, reason="Loss", depot="2"
        )

    assert caught.value.errormessage == (
        "not enough stock of article 'ALB0001' in depot '2': asked 16, available 15"
    )
    assert tenant.stock_of("ALB0001", "2") == 15


def test_move_of_a_service_is_refused(tenant: Tenant) -> None:
    """A service article is not stocked: the ERP refuses the movement."""
    with pytest.raises(BusinessRuleRejected) as caught:
        tenant.adapters.stock.move("PORT", Decimal(1), entry=True, reason="Test")

    assert caught.value.errormessage == "istock.Ref: article 'PORT' is not stocked"


def test_move_checks_its_input_before_any_call(tenant: Tenant) -> None:
    """A zero quantity and a blank reason are both reported, nothing is sent."""
    with pytest.raises(PayloadInvalid) as caught:
        tenant.adapters.stock.move("ALB0001", Decimal(0), entry=True, reason=" ")

    assert [str(problem) for problem in caught.value.problems] == [
        "quantity: must be a decimal above 0: 0",
        "reason: is required",
    ]
    assert tenant.control.requests() == []
