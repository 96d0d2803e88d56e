"""Bearer tokens and User Action Signing, checked as strictly as Dfns checks them.

- A bearer token is a JWT signed by the emulator; the org id sits in the
  `https://custom/app_metadata` claim, as in Dfns tokens.
- A challenge is single-use and expires; its assertion must carry clientData of type
  `key.get` with that challenge, signed by an active credential of the token's user.
- A user action token is single-use, expires, and is bound to the method, the path and
  the exact body bytes that were signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..signing import b64url, b64url_decode
from .errors import ApiFailure
from .store import Store

CHALLENGE_TTL = 300.0
USER_ACTION_TTL = 300.0
ORG_CLAIM = "https://custom/app_metadata"
WEBHOOK_PERMISSIONS = (
    "Webhooks:Create",
    "Webhooks:Read",
    "Webhooks:Update",
    "Webhooks:Delete",
    "Webhooks:Ping",
    "Webhooks:Events:Read",
)


class Clock:
    """Wall time plus an offset a test can advance, to expire challenges on demand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    @staticmethod
    def iso(moment: float) -> str:
        """A moment as Dfns writes dates: ISO 8601, UTC, milliseconds, `Z`."""
        return (
            datetime.fromtimestamp(moment, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )


@dataclass(frozen=True)
class Caller:
    token_id: str
    org_id: str
    user_id: str
    kind: str
    permissions: frozenset[str]


def new_id(prefix: str) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return f"{prefix}-{raw[:5]}-{raw[5:10]}-{raw[10:]}"


def make_jwt(signing_key: bytes, claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def read_jwt(signing_key: bytes, token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, b64url_decode(parts[2])):
            return None
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


class Authority:
    """Issues and checks tokens, challenges and user actions for the emulator."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        key = store.get_meta("jwt_key")
        if key is None:
            key = secrets.token_hex(32)
            with store.transaction() as db:
                store.set_meta(db, "jwt_key", key)
        self._jwt_key = bytes.fromhex(key)

    # -- bearer -----------------------------------------------------------------------

    def issue_token(
        self,
        db: sqlite3.Connection,
        org_id: str,
        user_id: str,
        *,
        kind: str = "ServiceAccount",
        permissions: tuple[str, ...] = WEBHOOK_PERMISSIONS,
    ) -> str:
        token_id = new_id("to")
        db.execute(
            "INSERT INTO tokens(token_id, org_id, user_id, kind, permissions) VALUES (?,?,?,?,?)",
            (token_id, org_id, user_id, kind, json.dumps(list(permissions))),
        )
        claims = {
            "iss": "auth.dfns.io",
            "aud": "dfns:auth:user",
            "sub": user_id,
            "jti": token_id,
            "iat": int(self.clock.now()),
            ORG_CLAIM: {"orgId": org_id, "tokenKind": kind},
        }
        return make_jwt(self._jwt_key, claims)

    def caller(self, authorization: str | None) -> Caller:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiFailure(401, "Unauthorized: missing bearer token")
        claims = read_jwt(self._jwt_key, authorization[len("Bearer ") :].strip())
        if claims is None:
            raise ApiFailure(401, "Unauthorized: invalid token")
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT * FROM tokens WHERE token_id=? AND revoked=0", (claims.get("jti"),)
            ).fetchone()
        meta = claims.get(ORG_CLAIM)
        if row is None or not isinstance(meta, dict) or meta.get("orgId") != row["org_id"]:
            raise ApiFailure(401, "Unauthorized: invalid or revoked token")
        return Caller(
            row["token_id"],
            row["org_id"],
            row["user_id"],
            row["kind"],
            frozenset(json.loads(row["permissions"])),
        )

    # -- challenges -------------------------------------------------------------------

    def new_challenge(self, caller: Caller, method: str, path: str, payload: str) -> dict[str, Any]:
        challenge = b64url(secrets.token_bytes(32))
        identifier = make_jwt(
            self._jwt_key,
            {"sub": caller.user_id, "jti": new_id("ch"), "iat": int(self.clock.now())},
        )
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO challenges(identifier, challenge, org_id, user_id, method, path,"
                " payload, expires) VALUES (?,?,?,?,?,?,?,?)",
                (
                    identifier,
                    challenge,
                    caller.org_id,
                    caller.user_id,
                    method,
                    path,
                    payload,
                    self.clock.now() + CHALLENGE_TTL,
                ),
            )
            creds = db.execute(
                "SELECT credential_id FROM credentials WHERE user_id=? AND active=1",
                (caller.user_id,),
            ).fetchall()
        return {
            "challenge": challenge,
            "challengeIdentifier": identifier,
            "allowCredentials": {
                "key": [{"type": "public-key", "id": c["credential_id"]} for c in creds],
                "webauthn": [],
                "passwordProtectedKey": [],
            },
            "supportedCredentialKinds": [
                {"kind": "Key", "factor": "first", "requiresSecondFactor": False}
            ],
            "userVerification": "required",
            "externalAuthenticationUrl": "",
            "attestation": "direct",
            "rp": {"id": "dfns.io", "name": "Dfns"},
        }

    def redeem_assertion(self, caller: Caller, identifier: str, assertion: dict[str, Any]) -> str:
        """Check a signed challenge; answer a single-use user action token."""
        now = self.clock.now()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT * FROM challenges WHERE identifier=?", (identifier,)
            ).fetchone()
            if row is not None and row["org_id"] == caller.org_id and not row["used"]:
                # A challenge gets one try: a failed signature burns it too (committed
                # here, before any refusal below).
                db.execute("UPDATE challenges SET used=1 WHERE identifier=?", (identifier,))
            cred = db.execute(
                "SELECT * FROM credentials WHERE credential_id=?", (assertion["credId"],)
            ).fetchone()
        if row is None or row["org_id"] != caller.org_id:
            raise ApiFailure(401, "Unauthorized: unknown challenge")
        if row["used"]:
            raise ApiFailure(401, "Unauthorized: challenge already used")
        if row["expires"] < now:
            raise ApiFailure(401, "Unauthorized: challenge expired")
        if cred is None or not cred["active"] or cred["user_id"] != row["user_id"]:
            raise ApiFailure(401, "Unauthorized: credential not found for this user")
        client_data = _decode(assertion["clientData"], "clientData")
        try:
            parsed = json.loads(client_data)
        except ValueError:
            raise ApiFailure(400, "clientData is not JSON") from None
        if not isinstance(parsed, dict) or parsed.get("type") != "key.get":
            raise ApiFailure(401, "Unauthorized: clientData type must be key.get")
        if parsed.get("challenge") != row["challenge"]:
            raise ApiFailure(401, "Unauthorized: clientData challenge does not match")
        signature = _decode(assertion["signature"], "signature")
        if not verify_signature(cred["public_key_pem"], signature, client_data):
            raise ApiFailure(401, "Unauthorized: invalid signature")
        token = secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO user_actions(token, org_id, method, path, payload, expires)"
                " VALUES (?,?,?,?,?,?)",
                (
                    token,
                    caller.org_id,
                    row["method"],
                    row["path"],
                    row["payload"],
                    now + USER_ACTION_TTL,
                ),
            )
        return token

    def consume_user_action(
        self, caller: Caller, token: str | None, method: str, path: str, body: bytes
    ) -> None:
        """Spend a user action token on exactly the call it was signed for."""
        if not token:
            raise ApiFailure(403, "Forbidden: missing X-DFNS-USERACTION header")
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM user_actions WHERE token=?", (token,)).fetchone()
            if row is None or row["org_id"] != caller.org_id:
                raise ApiFailure(403, "Forbidden: invalid user action token")
            if row["used"]:
                raise ApiFailure(403, "Forbidden: user action token already used")
            if row["expires"] < self.clock.now():
                raise ApiFailure(403, "Forbidden: user action token expired")
            if row["method"] != method or row["path"] != path:
                raise ApiFailure(403, "Forbidden: user action token was signed for another request")
            if row["payload"].encode("utf-8") != body:
                raise ApiFailure(
                    403, "Forbidden: request body differs from the signed user action payload"
                )
            db.execute("UPDATE user_actions SET used=1 WHERE token=?", (token,))


def _decode(text: object, name: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise ApiFailure(400, f"{name} must be a base64url string")
    try:
        return b64url_decode(text)
    except ValueError:
        raise ApiFailure(400, f"{name} is not base64url") from None


def verify_signature(public_key_pem: str, signature: bytes, data: bytes) -> bool:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
