"""The demo a new user runs first: a simulator, and an order taken to its invoice.

:func:`run_demo` starts a :class:`~divalto.simulator.SimulatorServer` in this
process and speaks to it over real HTTP with plain httpx, as any client of Divalto
would: it logs in, reads a customer and two articles through RecordSql, asks the
stock and the price through XML demands, creates an order with
``integration_piece``, transfers it into a delivery note and then an invoice, and
shows with Rich what the simulated ERP did, including its request log.

It uses no SDK code on purpose: what it sends is the wire format itself, as the
documents in ``docs/simulator/`` describe it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from lxml import etree
from rich.console import Console
from rich.table import Table

from divalto.simulator.server import SimulatorServer
from divalto.simulator.settings import SimulatorSettings

DOSSIER = "998"
USER = "DEMO"
PASSWORD = "demo"  # noqa: S105 - the simulator's documented demo account
CUSTOMER = "C0000001"
DEPOT = "1"
ORDER_LINES = (("ALB0001", "12"), ("CAF0001", "2"))
"""What the demo orders: article and quantity."""
REFERENCE = "DEMO-0001"
"""The order's "your reference", as a shop's order number would be."""

Record = dict[str, str]
KIND_NAMES = {"order": "order", "delivery": "delivery note", "invoice": "invoice"}
ARTICLES = {"order": "an order", "delivery": "a delivery note", "invoice": "an invoice"}
STATE_NAMES = {"1": "active", "2": "suspended", "9": "transferred"}
"""``ENT.CE4`` states the demo may meet."""


class DemoFailed(Exception):
    """A step of the demo got an answer it cannot go on with."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


@dataclass
class StockLevel:
    """One article in one depot, as ``INTERROGER_STOCK`` tells it."""

    stock: Decimal
    reserved: Decimal
    available: Decimal


@dataclass
class Document:
    """A document the demo created, as the ``Entete`` RecordSql reads it back."""

    kind: str
    header: Record


@dataclass
class DemoReport:
    """Everything the demo saw, for the closing tables."""

    customer: Record = field(default_factory=dict)
    articles: list[Record] = field(default_factory=list)
    prices: dict[str, etree._Element] = field(default_factory=dict)
    stock_before: dict[str, StockLevel] = field(default_factory=dict)
    stock_after: dict[str, StockLevel] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)
    order_lines: list[Record] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class DivaltoWire:
    """Plain httpx calls on one Divalto API base, the token in the body."""

    def __init__(self, http: httpx.Client, settings: SimulatorSettings) -> None:
        self.http = http
        self.settings = settings
        self.token = ""

    def post(self, step: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body; raises :class:`DemoFailed` unless ``error`` is 0."""
        try:
            response = self.http.post(route, json=body)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DemoFailed(step, f"{route}: {exc}") from exc
        if answer.get("error") != 0:
            text = answer.get("txterr") or answer.get("txterror") or ""
            raise DemoFailed(step, f"error {answer.get('error')}: {text}")
        return answer

    def login(self, step: str, user: str, password: str) -> None:
        body = {"user": user, "password": password, "domain": "divaltocloud"}
        token = self.post(step, "Authent/Auth", body).get("access_token")
        if not isinstance(token, str) or not token:
            raise DemoFailed(step, "no access_token in the answer")
        self.token = token

    def read(self, step: str, dhoq: str, recordsql: str, **fields: str) -> list[Record]:
        """The records of one RecordSql page."""
        body = {"dhoq": dhoq, "recordsql": recordsql, "access_token": self.token}
        route = self.settings.recordsql_route.strip("/")
        answer = self.post(step, route, {**body, **fields})
        try:
            return [row["record"] for row in answer["records"]]
        except (KeyError, TypeError) as exc:
            raise DemoFailed(
                step, f"records not in the documented shape: {exc}"
            ) from exc

    def read_one(self, step: str, dhoq: str, recordsql: str, **fields: str) -> Record:
        records = self.read(step, dhoq, recordsql, **fields)
        if len(records) != 1:
            raise DemoFailed(step, f"expected one record, got {len(records)}")
        return records[0]

    def demand(self, step: str, name: str, **params: str) -> etree._Element:
        """Run an XML demand; its ``<rep>`` root, unless it holds an ``<erreur>``."""
        action = etree.Element("action", dos=DOSSIER, nom=name)
        for tag, text in params.items():
            etree.SubElement(action, tag).text = text
        root = etree.Element("dem")
        root.append(action)
        param = etree.tostring(root, encoding="unicode")
        text = self.service(step, self.settings.actions.xml_service, param)
        reply = parse_reply(step, text)
        refusal = reply.find("erreur")
        if refusal is not None:
            raise DemoFailed(
                step, f"<erreur code={refusal.get('code')}> {refusal.text}"
            )
        return reply

    def action(self, step: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Run a JSON business action; its ``response``, unless ``resultcode`` ≠ 0."""
        inner = {
            "action": {"swinfinity": name, "parameters": {"dos": DOSSIER}},
            "data": data,
        }
        service = self.settings.actions.json_service
        text = self.service(step, service, json.dumps(inner))
        try:
            result = json.loads(text)["result"]
            code = result["common"]["resultcode"]
            message = result["common"]["errormessage"]
            response: dict[str, Any] = result["response"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoFailed(
                step, f"result not in the documented shape: {exc}"
            ) from exc
        if code != "0":
            raise DemoFailed(step, f"resultcode {code}: {message}")
        return response

    def service(self, step: str, action: str, param: str) -> str:
        """Call ``WebService/Execute``; the ``result`` string of its answer."""
        body = {"action": action, "param": param, "access_token": self.token}
        result = self.post(step, "WebService/Execute", body).get("result")
        if not isinstance(result, str):
            raise DemoFailed(step, "no result string in the answer")
        return result


def parse_reply(step: str, text: str) -> etree._Element:
    """Parse an XML answer declared ISO-8859-1, refusing DTDs and entities."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(text.encode("latin-1"), parser)
    except (etree.XMLSyntaxError, UnicodeEncodeError) as exc:
        raise DemoFailed(step, f"unreadable XML answer: {exc}") from exc


class Walkthrough:
    """The demo's steps, in order, each printed as it succeeds."""

    def __init__(self, wire: DivaltoWire, console: Console) -> None:
        self.wire = wire
        self.console = console
        self.report = DemoReport()

    def done(self, step: str, detail: str = "") -> None:
        suffix = f" [dim]{detail}[/dim]" if detail else ""
        self.console.print(f"[green]✓[/green] {step}{suffix}", highlight=False)

    def run(self) -> DemoReport:
        self.log_in()
        self.read_master_data()
        self.report.stock_before = self.stock("before the order")
        self.ask_prices()
        order = self.create_order()
        delivery = self.transfer("order", order, "delivery")
        invoice = self.transfer("delivery", delivery, "invoice")
        self.report.stock_after = self.stock("after the delivery")
        created = (("order", order), ("delivery", delivery), ("invoice", invoice))
        self.report.documents = [
            self.read_document(kind, number) for kind, number in created
        ]
        self.report.order_lines = self.read_lines(self.report.documents[0])
        return self.report

    def log_in(self) -> None:
        step = f"Log in as {USER}"
        self.wire.login(step, USER, PASSWORD)
        self.done(step, "token received")

    def read_master_data(self) -> None:
        step = f"Read customer {CUSTOMER} (GTRSTIERS.dhoq/Client)"
        self.report.customer = self.wire.read_one(
            step,
            "GTRSTIERS.dhoq",
            "Client",
            where="PK",
            where_parameters=f"tiers={CUSTOMER}",
        )
        self.done(step, self.report.customer.get("NOM", ""))
        for ref, _ in ORDER_LINES:
            step = f"Read article {ref} (GTRSART.dhoq/Article)"
            article = self.wire.read_one(
                step,
                "GTRSART.dhoq",
                "Article",
                where="PK",
                where_parameters=f"ref={ref}",
            )
            self.report.articles.append(article)
            self.done(step, article.get("DES", ""))

    def stock(self, moment: str) -> dict[str, StockLevel]:
        levels: dict[str, StockLevel] = {}
        for ref, _ in ORDER_LINES:
            step = f"INTERROGER_STOCK {ref} in depot {DEPOT}, {moment}"
            reply = self.wire.demand(step, "INTERROGER_STOCK", ref=ref, depot=DEPOT)
            levels[ref] = stock_level(step, reply)
            self.done(step, f"available {levels[ref].available}")
        return levels

    def ask_prices(self) -> None:
        for ref, quantity in ORDER_LINES:
            step = f"INTERROGER_TARIF {ref} x {quantity} for {CUSTOMER}"
            reply = self.wire.demand(
                step, "INTERROGER_TARIF", tiers=CUSTOMER, ref=ref, quantite=quantity
            )
            tarif = reply.find("tarif")
            if tarif is None:
                raise DemoFailed(step, "no <tarif> in the answer")
            self.report.prices[ref] = tarif
            self.done(step, f"net unit price {tarif.findtext('punet')}")

    def create_order(self) -> str:
        step = f"Create an order for {CUSTOMER} (integration_piece)"
        types = self.wire.settings.document_types
        data = {
            "ient": {
                "PiCod": str(types.order),
                "Tiers": CUSTOMER,
                "PiRef": REFERENCE,
                "Depo": DEPOT,
            },
            "imouvtb": [
                {"imouv": {"Ref": ref, "Qte": quantity}}
                for ref, quantity in ORDER_LINES
            ],
        }
        action = self.wire.settings.actions.create_document
        number = document_number(step, self.wire.action(step, action, data))
        self.done(step, number)
        return number

    def transfer(self, source_kind: str, source: str, kind: str) -> str:
        """Transfer every line of ``source`` into a new document of ``kind``."""
        types = self.wire.settings.document_types
        action = self.wire.settings.actions.transfer_document
        step = f"Transfer {source} into {ARTICLES[kind]} ({action})"
        data = {
            "ient": {
                "PiCod": str(getattr(types, source_kind)),
                "PiNo": source,
                "PiCodDest": str(getattr(types, kind)),
            }
        }
        number = document_number(step, self.wire.action(step, action, data))
        self.done(step, number)
        return number

    def read_document(self, kind: str, number: str) -> Document:
        step = f"Read document {number} (GTRSPIECE.dhoq/Entete)"
        header = self.wire.read_one(
            step,
            "GTRSPIECE.dhoq",
            "Entete",
            where="Equal_PrefPiNo",
            where_parameters=f"prefpino={number}",
        )
        self.done(step, f"total {header.get('TTCMT')} incl. tax")
        return Document(kind, header)

    def read_lines(self, document: Document) -> list[Record]:
        header = document.header
        step = f"Read the lines of {header['PREFPINO']} (GTRSPIECE.dhoq/Mouvement)"
        lines = self.wire.read(
            step,
            "GTRSPIECE.dhoq",
            "Mouvement",
            where="Equal_Piece",
            where_parameters=f"picod={header['PICOD']};pino={header['PINO']}",
            orderby="Par_Ligne",
        )
        self.done(step, f"{len(lines)} lines")
        return lines


def document_number(step: str, response: dict[str, Any]) -> str:
    """The ``prefpino`` of the document an action created."""
    piece = response.get("piece")
    number = piece.get("prefpino") if isinstance(piece, dict) else None
    if not isinstance(number, str) or not number:
        raise DemoFailed(step, f"no piece.prefpino in the response: {response}")
    return number


def stock_level(step: str, reply: etree._Element) -> StockLevel:
    line = reply.find("ligne")
    if line is None:
        raise DemoFailed(step, "no <ligne> in the answer")
    try:
        return StockLevel(
            stock=Decimal(line.findtext("stock", "")),
            reserved=Decimal(line.findtext("reserve", "")),
            available=Decimal(line.findtext("disponible", "")),
        )
    except ArithmeticError as exc:
        raise DemoFailed(step, f"unreadable stock figures: {exc}") from exc


def run_demo(console: Console, settings: SimulatorSettings | None = None) -> int:
    """Run the demo on a fresh in-process simulator; 0 on success, 1 on a failed step.

    Everything is printed on ``console``; nothing is raised for a failed step, whose
    name and the simulator's answer are printed instead.
    """
    settings = settings or SimulatorSettings()
    try:
        with SimulatorServer(settings) as server:
            console.print(f"Simulator answering at [bold]{server.base_url}[/bold]")
            with httpx.Client(base_url=server.base_url, timeout=10) as http:
                report = Walkthrough(DivaltoWire(http, settings), console).run()
                report.requests = request_log(server.url, http)
    except DemoFailed as exc:
        console.print(
            f"[bold red]Demo failed[/bold red] at: {exc.step}", highlight=False
        )
        console.print(exc.message, markup=False, highlight=False)
        return 1
    except RuntimeError as exc:
        console.print(f"[bold red]Demo failed[/bold red]: {exc}", highlight=False)
        return 1
    show_report(report, console)
    return 0


def request_log(root: str, http: httpx.Client) -> list[dict[str, Any]]:
    step = "Read the request log (/_simulator/requests)"
    try:
        response = http.get(f"{root}/_simulator/requests")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DemoFailed(step, str(exc)) from exc
    return entries


def show_report(report: DemoReport, console: Console) -> None:
    """The closing tables: documents, prices, stock before and after, request log."""
    console.print()
    for table in (
        documents_table(report),
        prices_table(report),
        stock_table(report),
        requests_table(report.requests),
    ):
        console.print(table)


def documents_table(report: DemoReport) -> Table:
    dates = {document.header.get("PIDT", "") for document in report.documents}
    table = Table(
        title=f"Documents for {CUSTOMER}, reference {REFERENCE}, "
        f"dated {', '.join(sorted(dates))}"
    )
    for name in ("Document", "Number", "State"):
        table.add_column(name, no_wrap=True)
    for name in ("Excl. tax", "VAT", "Incl. tax"):
        table.add_column(name, justify="right", no_wrap=True)
    for document in report.documents:
        header = document.header
        state = header.get("CE4", "")
        table.add_row(
            KIND_NAMES[document.kind],
            header.get("PREFPINO", ""),
            f"{state} {STATE_NAMES.get(state, '')}".strip(),
            header.get("HTMT", ""),
            header.get("TVAMT", ""),
            header.get("TTCMT", ""),
        )
    return table


def prices_table(report: DemoReport) -> Table:
    """The price demand's answer beside the order line it announced."""
    table = Table(title="INTERROGER_TARIF beside the order's lines (excl. tax)")
    table.add_column("Article", no_wrap=True)
    for name in (
        "Qty",
        "Base price",
        "Discounts %",
        "Net price",
        "Order net",
        "Amount",
    ):
        table.add_column(name, justify="right", no_wrap=True)
    lines = {line.get("REF", ""): line for line in report.order_lines}
    for ref, quantity in ORDER_LINES:
        tarif = report.prices[ref]
        line = lines.get(ref, {})
        discounts = [tarif.findtext(f"rem{n}", "") for n in (1, 2, 3)]
        table.add_row(
            ref,
            quantity,
            tarif.findtext("pub", ""),
            " + ".join(d for d in discounts if Decimal(d or 0)) or "-",
            tarif.findtext("punet", ""),
            line.get("PUNET", ""),
            line.get("MTHT", ""),
        )
    return table


def stock_table(report: DemoReport) -> Table:
    table = Table(title=f"Stock in depot {DEPOT}: before the order, after delivery")
    table.add_column("Article", no_wrap=True)
    for name in ("Ordered", "Stock", "Stock after", "Available", "Available after"):
        table.add_column(name, justify="right", no_wrap=True)
    for ref, quantity in ORDER_LINES:
        before, after = report.stock_before[ref], report.stock_after[ref]
        table.add_row(
            ref,
            quantity,
            str(before.stock),
            str(after.stock),
            str(before.available),
            str(after.available),
        )
    return table


def requests_table(entries: list[dict[str, Any]]) -> Table:
    """The request log summed up per route, action and outcome."""
    table = Table(title="What the simulator received (its request log)")
    for name in ("Route", "Action", "Outcome"):
        table.add_column(name, no_wrap=True)
    for name in ("Calls", "Mean ms"):
        table.add_column(name, justify="right", no_wrap=True)
    groups: dict[tuple[str, str, str], list[float]] = {}
    for entry in entries:
        key = (entry["route"], entry.get("action") or "", entry["outcome"])
        groups.setdefault(key, []).append(float(entry.get("duration_ms", 0.0)))
    for (route, action, outcome), durations in sorted(groups.items()):
        mean = sum(durations) / len(durations)
        table.add_row(route, action, outcome, str(len(durations)), f"{mean:.1f}")
    return table
