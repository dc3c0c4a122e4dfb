"""Tokens as Divalto issues them.

Divalto's access token is a JWT signed with HMAC-SHA256, whose header names the
algorithm in the long .NET form and whose claims are ``ident``, ``user``,
``password`` (the password in base64: a token is as secret as the password),
``env``, ``domain`` and ``exp``. ``exp`` is a *string* holding an OLE Automation date:
days since 1899-12-30, with the time of day as the fraction. Standard JWT libraries
refuse that algorithm name and that ``exp``, so both directions are written here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ALGORITHM = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


def to_ole_date(moment: datetime) -> str:
    """Write a moment as an OLE Automation date string (UTC, 8 decimals)."""
    days = (moment - OLE_EPOCH) / timedelta(days=1)
    return f"{days:.8f}"


def from_ole_date(text: str) -> datetime:
    """Read an OLE Automation date string; a comma decimal separator is accepted."""
    days = float(text.replace(",", "."))
    return OLE_EPOCH + timedelta(days=days)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that cannot be accepted; ``kind`` is expired, malformed or unknown."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Claims:
    """What a verified token says, plus the dossier of the account it was issued to."""

    ident: str
    user: str
    env: str
    domain: str
    expires_at: datetime
    dossier: str


class TokenIssuer:
    """Issues tokens and checks them; remembers which ``ident`` it has issued.

    A token signed with another key, or never issued by this issuer (another
    simulator, or before :meth:`forget_all`), is *unknown*; one past its ``exp``
    or issued before :meth:`expire_all` is *expired*; one that cannot be read is
    *malformed*.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._issued: dict[str, tuple[str, datetime]] = {}
        self._not_before = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        user: str,
        password: str,
        env: str,
        domain: str,
        dossier: str,
        now: datetime,
        ttl_seconds: float,
    ) -> str:
        """Sign a new token for ``user``, valid ``ttl_seconds`` from ``now``."""
        ident = str(uuid.uuid4())
        claims = {
            "ident": ident,
            "user": user,
            "password": base64.b64encode(password.encode("utf-8")).decode("ascii"),
            "env": env,
            "domain": domain,
            "exp": to_ole_date(now + timedelta(seconds=ttl_seconds)),
        }
        header = {"alg": ALGORITHM, "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
            for part in (header, claims)
        )
        with self._lock:
            self._issued[ident] = (dossier, now)
        return f"{signing_input}.{_b64url(self._sign(signing_input))}"

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(
            self._key, signing_input.encode("ascii"), hashlib.sha256
        ).digest()

    def verify(self, token: str, now: datetime) -> Claims:
        """Return the claims of a valid token.

        Raises :class:`TokenError` (``malformed``, ``unknown`` or ``expired``) with
        a message naming the problem.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError(
                "malformed",
                f"Token malformed: expected 3 dot-separated parts, found {len(parts)}",
            )
        header, claims, signature = _decode_parts(parts)
        if header.get("alg") != ALGORITHM:
            raise TokenError("malformed", "Token malformed: unsupported algorithm")
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), signature):
            raise TokenError("unknown", "Token unknown: signature not recognised")
        ident, expires_at = _identity_and_expiry(claims)
        with self._lock:
            issued = self._issued.get(ident)
            not_before = self._not_before
        if issued is None:
            raise TokenError("unknown", "Token unknown: not issued by this server")
        dossier, issued_at = issued
        if now >= expires_at or issued_at <= not_before:
            raise TokenError("expired", "Token expired: log in again")
        return Claims(
            ident=ident,
            user=str(claims.get("user", "")),
            env=str(claims.get("env", "")),
            domain=str(claims.get("domain", "")),
            expires_at=expires_at,
            dossier=dossier,
        )

    def expire_all(self, now: datetime) -> None:
        """Expire every token issued up to ``now`` (the early-expiry fault)."""
        with self._lock:
            self._not_before = now

    def forget_all(self) -> None:
        """Forget every issued token: they become unknown (a server restart)."""
        with self._lock:
            self._issued.clear()
            self._not_before = datetime.min.replace(tzinfo=UTC)


def _decode_parts(parts: list[str]) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature of a token, or a ``malformed`` TokenError."""
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
        signature = _unb64url(parts[2])
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise TokenError(
            "malformed", "Token malformed: a part is not base64url-encoded JSON"
        ) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError(
            "malformed", "Token malformed: header and claims must be JSON objects"
        )
    return header, claims, signature


def _identity_and_expiry(claims: dict[str, Any]) -> tuple[str, datetime]:
    try:
        return str(claims["ident"]), from_ole_date(str(claims["exp"]))
    except (KeyError, ValueError, OverflowError) as exc:
        raise TokenError(
            "malformed", "Token malformed: claims 'ident' and 'exp' unreadable"
        ) from exc
