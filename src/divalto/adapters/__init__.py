"""Business methods over the typed models, for one client and one mapping profile.

::

    from divalto.adapters import Adapters

    with Divalto(profile) as erp:
        erp_adapters = Adapters(erp)            # the default mapping profile
        order = erp_adapters.orders.create({...})
        note = erp_adapters.orders.deliver(order.number, {1: Decimal(4)})

No Divalto field name, WHERE case or action code appears in the caller's code:
they all come from the :class:`~divalto.mapping.MappingProfile`.
"""

from __future__ import annotations

from divalto.adapters.customers import Customers
from divalto.adapters.errors import (
    CreditLimitExceeded,
    FieldConflict,
    MissingReference,
    PriceDifference,
    PriceMismatch,
    ReferencesMissing,
    UpdateConflict,
)
from divalto.adapters.invoices import Invoices
from divalto.adapters.orders import Orders
from divalto.adapters.products import Products
from divalto.adapters.stock import Stock
from divalto.client import Divalto
from divalto.mapping import MappingProfile, default_mapping

__all__ = [
    "Adapters",
    "CreditLimitExceeded",
    "Customers",
    "FieldConflict",
    "Invoices",
    "MissingReference",
    "Orders",
    "PriceDifference",
    "PriceMismatch",
    "Products",
    "ReferencesMissing",
    "Stock",
    "UpdateConflict",
]


class Adapters:
    """The five adapters over one client, named by one mapping profile.

    ``mapping`` defaults to :func:`~divalto.mapping.default_mapping`, which
    matches the simulator. The adapters share the client's transport (tokens,
    retries, deadline); the mapping names the actions, fields and cases.
    """

    def __init__(self, client: Divalto, mapping: MappingProfile | None = None):
        self.mapping = mapping or default_mapping()
        self.customers = Customers(client, self.mapping)
        self.products = Products(client, self.mapping)
        self.orders = Orders(client, self.mapping)
        self.invoices = Invoices(client, self.mapping)
        self.stock = Stock(client, self.mapping)
