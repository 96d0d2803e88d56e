"""Bearer tokens and User Action Signing, checked as strictly as Dfns checks them.

- A bearer token is a JWT signed by the emulator; the org id sits in the
  `https://custom/app_metadata` claim, as in Dfns tokens.
- A challenge is single-use and expires; its assertion must carry clientData of type
  `key.get` with that challenge, signed by an active credential of the token's user,
  named by its `credentialId` (the base64url id `allowCredentials.key[].id` lists; the
  `cr-...` credentialUuid is not a credId).
- A user action token is single-use, expires, and is bound to the method, the path and
  the JSON value of the signed payload (binding.py says why the value, not the bytes).

Statuses follow the docs where they speak (dfns/dfns-api-docs getting-started/errors.md):
a reused user action token answers 400 "user action has already been used"; an invalid
challenge 400 "Challenge token is not valid." (User Action Signing Errors; the emulator
adds why); a credential the user does not have 401. An expired
user action token answers 403 "...expired" and a body that is not the signed value 403:
ASSUMED, no source shows them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..signing import b64url, b64url_decode
from .assumed import Assumed
from .binding import binds
from .clock import Clock, new_id
from .errors import ApiFailure
from .store import Row, Store

ORG_CLAIM = "https://custom/app_metadata"
INVALID_CHALLENGE = "Challenge token is not valid:"
START_AGAIN = "start again at /auth/action/init"
WEBHOOK_PERMISSIONS = (
    "Webhooks:Create",
    "Webhooks:Read",
    "Webhooks:Update",
    "Webhooks:Delete",
    "Webhooks:Ping",
    "Webhooks:Events:Read",
)


@dataclass(frozen=True)
class Caller:
    token_id: str
    org_id: str
    user_id: str
    kind: str
    permissions: frozenset[str]


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

    def __init__(self, store: Store, clock: Clock, assumed: Assumed) -> None:
        self.store = store
        self.clock = clock
        self.assumed = assumed
        key = store.get_meta("jwt_key")
        if key is None:
            key = secrets.token_hex(32)
            store.set_meta({"jwt_key": key})
        self._jwt_key = bytes.fromhex(key)

    # -- bearer -----------------------------------------------------------------------

    def issue_token(
        self,
        org_id: str,
        user_id: str,
        *,
        kind: str = "ServiceAccount",
        permissions: tuple[str, ...] = WEBHOOK_PERMISSIONS,
    ) -> str:
        token_id = new_id("to")
        self.store.add_token(token_id, org_id, user_id, kind, list(permissions))
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
        row = self.store.live_token(claims.get("jti"))
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
        self.store.add_challenge(
            {
                "identifier": identifier,
                "challenge": challenge,
                "org_id": caller.org_id,
                "user_id": caller.user_id,
                "method": method,
                "path": path,
                "payload": payload,
                "expires": self.clock.now() + self.assumed.challenge_ttl,
            }
        )
        credential_ids = self.store.active_credential_ids(caller.user_id)
        return {
            "challenge": challenge,
            "challengeIdentifier": identifier,
            "allowCredentials": {
                "key": [{"type": "public-key", "id": c} for c in credential_ids],
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
        row = self.store.take_challenge(identifier, caller.org_id)
        if row is None or row["org_id"] != caller.org_id:
            raise ApiFailure(400, f"{INVALID_CHALLENGE} no such challenge; {START_AGAIN}")
        if row["used"]:
            raise ApiFailure(400, f"{INVALID_CHALLENGE} the challenge has already been used")
        if row["expires"] < now:
            raise ApiFailure(400, f"{INVALID_CHALLENGE} the challenge has expired; {START_AGAIN}")
        cred = self.store.credential(assertion["credId"])
        if cred is None or not cred["active"] or cred["user_id"] != row["user_id"]:
            raise ApiFailure(401, "Unauthorized: credential not found for this user")
        client_data = _decode(assertion["clientData"], "clientData")
        try:
            parsed = json.loads(client_data)
        except (ValueError, RecursionError):
            raise ApiFailure(400, "clientData is not JSON") from None
        if not isinstance(parsed, dict) or parsed.get("type") != "key.get":
            raise ApiFailure(401, "Unauthorized: clientData type must be key.get")
        if parsed.get("challenge") != row["challenge"]:
            raise ApiFailure(401, "Unauthorized: clientData challenge does not match")
        signature = _decode(assertion["signature"], "signature")
        if not verify_signature(cred["public_key_pem"], signature, client_data):
            raise ApiFailure(401, "Unauthorized: invalid signature")
        token = secrets.token_urlsafe(32)
        self.store.add_user_action(
            {
                "token": token,
                "org_id": caller.org_id,
                "method": row["method"],
                "path": row["path"],
                "payload": row["payload"],
                "expires": now + self.assumed.user_action_ttl,
            }
        )
        return token

    def consume_user_action(
        self, caller: Caller, token: str | None, method: str, path: str, body: bytes
    ) -> None:
        """Spend a user action token on the call it was signed for (same method, path
        and JSON value); a refusal leaves the token unspent."""
        if not token:
            raise ApiFailure(403, "Forbidden: missing X-DFNS-USERACTION header")
        now = self.clock.now()

        def check(row: Row | None) -> None:
            if row is None or row["org_id"] != caller.org_id:
                raise ApiFailure(403, "Forbidden: invalid user action token")
            if row["used"]:
                raise ApiFailure(400, "user action has already been used")
            if row["expires"] < now:
                raise ApiFailure(403, "Forbidden: user action token expired")
            if row["method"] != method or row["path"] != path:
                raise ApiFailure(403, "Forbidden: user action token was signed for another request")
            if not binds(row["payload"], body):
                raise ApiFailure(
                    403, "Forbidden: request body differs from the signed user action payload"
                )

        self.store.spend_user_action(token, check)


def _decode(text: object, name: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise ApiFailure(400, f"{name} must be a base64url string")
    try:
        return b64url_decode(text)
    except ValueError:
        raise ApiFailure(400, f"{name} is not base64url") from None


def verify_signature(public_key_pem: str, signature: bytes, data: bytes) -> bool:
    """Ed25519 over the bytes; ECDSA (any named curve) with SHA-256, DER; RSA PKCS#1
    v1.5 with SHA-256, as the official SDKs' key signers sign (dfns-sdk auth.py,
    dfns-sdk-go signer/key.go, @dfns/sdk-keysigner)."""
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
