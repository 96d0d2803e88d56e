"""Credentials (PEM private keys) and Dfns User Action Signing.

A change-making call is authorised by a user action token. Getting one takes a
challenge from Dfns, a signature over clientData with the service account's private
key, and a second call that trades the signature for the token. This module does the
signing half; the client does the HTTP half.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .byte_order import marked_encoding
from .errors import DfnsSettingsError, DfnsSigningError

# Dfns accepts keys on "any curve that is supported by Node JS' crypto library"
# (dfns/dfns-api-docs advanced-topics/authentication/credentials/generate-a-key-pair.md;
# it recommends P-256, Ed25519, RSA 2048). We sign Ed25519, RSA, and ECDSA on the curves named
# below: the ones both Node's crypto and the official SDKs' libraries handle, and the
# emulator verifies (tests/test_official_sdk.py runs each). ECDSA always hashes with
# SHA-256, as dfns-sdk (Python) does for every curve and Node's `crypto.sign` does by
# default for EC keys (@dfns/sdk-keysigner passes no algorithm). Other curves (brainpool,
# binary curves) and Ed448 are refused: no official SDK signs them, so nothing shows which
# hash or encoding Dfns would expect.
EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "p256": ec.SECP256R1,
    "p384": ec.SECP384R1,
    "p521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
KEY_TYPES = ("ed25519", *EC_CURVES, "rsa")


def b64url(data: bytes) -> str:
    """Base64url without padding, as Dfns encodes clientData and signatures."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


SignableKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def key_type_of(key: object) -> str:
    """Name the key type, or raise when Dfns cannot use it."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        for name, curve in EC_CURVES.items():
            if isinstance(key.curve, curve):
                return name
        raise ValueError(f"elliptic curve {key.curve.name} is not supported by Dfns")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    raise ValueError(f"{type(key).__name__} keys are not supported by Dfns")


# A Dfns credentialId: base64url text. Every concrete credId in the sources is base64url
# (dfns/dfns-api-docs examples, the dashboard's "Cred ID"; ../shared/dfns-api.md), and
# WebAuthn credential ids travel base64url-encoded; no source states the alphabet, so
# the shape is *assumed*: a real id outside it would be refused at preview, naming
# dfns:credentialId (widen this pattern then). Only a value of this shape is ever shown
# in a message: anything else may be a secret pasted in the wrong place (a token, a key).
CREDENTIAL_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,2048}={0,2}")

_PEM_BEGIN = "-----BEGIN"


def key_file_contents(raw: bytes, setting: str) -> tuple[bytes, bool]:
    """A key file's bytes as (PEM bytes, False) or (DER bytes, True).

    PEM text may be UTF-8 (or ASCII), or UTF-8/16/32 with a byte order mark, or UTF-16
    without one; bytes that hold no PEM header are taken as DER. Never quotes the file.
    """
    encoding = marked_encoding(raw)
    if encoding is None:
        if _PEM_BEGIN.encode() in raw:
            return raw, False
        # UTF-16 without a mark: the header's letters with a zero byte beside each.
        encoding = next(
            (e for e in ("utf-16-le", "utf-16-be") if _PEM_BEGIN.encode(e) in raw), None
        )
        if encoding is None:
            return raw, True
    try:
        return raw.decode(encoding).encode("ascii"), False
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise DfnsSettingsError(
            setting,
            f"the file starts like {encoding} text but is not PEM text in it; write the "
            "key as a PEM file (UTF-8 or ASCII) or as DER",
        ) from None


def load_private_key(
    pem: str | bytes,
    passphrase: str | None = None,
    *,
    setting: str = "dfns:privateKey",
    der: bool = False,
) -> SignableKey:
    """Load a PEM (or, with `der`, DER) private key; errors name the setting and never
    quote the key."""
    data = pem.encode() if isinstance(pem, str) else pem
    password = passphrase.encode() if passphrase else None
    form = "DER" if der else "PEM"
    try:
        if der:
            key = serialization.load_der_private_key(data, password=password)
        else:
            key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        # cryptography says TypeError both for "encrypted but no password" and the reverse.
        if password is None:
            raise DfnsSettingsError(
                setting,
                "the private key is encrypted: set dfns:privateKeyPassphrase "
                "(`pulumi config set --secret dfns:privateKeyPassphrase ...`)",
            ) from None
        raise DfnsSettingsError(
            "dfns:privateKeyPassphrase",
            "a passphrase is set but the private key is not encrypted: remove the passphrase",
        ) from exc
    except ValueError:
        if password is not None:
            reason = (
                f"cannot decrypt the private key: wrong passphrase, or not a {form} private key"
            )
            raise DfnsSettingsError(setting, reason) from None
        if der:
            raise DfnsSettingsError(
                setting,
                "the file is neither a PEM private key (text: UTF-8, or UTF-16/32 with a byte "
                "order mark) nor a DER one (PKCS#8 or traditional)",
            ) from None
        raise DfnsSettingsError(
            setting, "not a PEM private key (expected the text of a PKCS#8 or traditional PEM file)"
        ) from None
    except UnsupportedAlgorithm:
        raise DfnsSettingsError(setting, "the private key's algorithm is not supported") from None
    try:
        key_type_of(key)
    except ValueError as exc:
        raise DfnsSettingsError(
            setting, f"{exc}; use an Ed25519, RSA or ECDSA key on P-256, P-384, P-521 or secp256k1"
        ) from None
    return key  # type: ignore[return-value]


def sign_bytes(key: SignableKey, data: bytes) -> bytes:
    """Sign as Dfns verifies: Ed25519 raw; ECDSA SHA-256 DER; RSA PKCS#1 v1.5 SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def generate_private_key(key_type: str) -> SignableKey:
    """A new key of a Dfns-supported type (used by the emulator and by tests)."""
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in EC_CURVES:
        return ec.generate_private_key(EC_CURVES[key_type]())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


def private_key_pem(key: SignableKey, passphrase: str | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode("ascii")


@dataclass(frozen=True)
class Credential:
    """A Dfns key credential: its id and the private key that signs for it."""

    credential_id: str
    key: SignableKey = field(repr=False)

    @property
    def shown_id(self) -> str:
        """The id for a message. A credentialUuid (`cr-...`) whole: an identifier Dfns
        shows anywhere. Any other value only by its first four characters and length:
        an id Dfns did not list may be a secret pasted in the wrong place, and secrets
        can have an id's shape (a webhook secret `whs-...`, a hex key); the four
        characters still tell `Y2kt...` from `whs-...`. Without an id's shape, nothing."""
        value = self.credential_id
        if not CREDENTIAL_ID_SHAPE.fullmatch(value):
            return "(the value of dfns:credentialId, not shown: it is not a base64url id)"
        if value.startswith("cr-") or len(value) <= 4:
            return value
        return f"{value[:4]}... ({len(value)} characters)"

    def assertion_for(self, challenge: dict[str, Any]) -> dict[str, Any]:
        """Answer an `/auth/action/init` challenge with a signed Key assertion.

        The clientData bytes are built once and both signed and sent, so what Dfns
        verifies is exactly what was signed.
        """
        allowed = challenge.get("allowCredentials", {}).get("key", [])
        allowed_ids = [c.get("id") for c in allowed if isinstance(c, dict)]
        if self.credential_id not in allowed_ids:
            if self.credential_id.startswith("cr-"):
                # A Dfns credential has two ids: the credentialUuid (`cr-...`) and the
                # credentialId (base64url) that allowCredentials lists and credId carries.
                raise DfnsSigningError(
                    f"dfns:credentialId is {self.shown_id}, a credentialUuid (cr-...), "
                    "but Dfns signs with the credentialId: set dfns:credentialId to the "
                    "signing key's credentialId, the base64url text shown as its Cred ID "
                    "(Dfns allows: "
                    f"{', '.join(map(str, allowed_ids)) or 'no key credential'})"
                )
            raise DfnsSigningError(
                f"credential {self.shown_id} is not allowed to sign for this user "
                f"(Dfns allows: {', '.join(map(str, allowed_ids)) or 'no key credential'}): "
                "check dfns:credentialId"
            )
        challenge_text = challenge.get("challenge")
        if not isinstance(challenge_text, str) or not challenge_text:
            raise DfnsSigningError("the Dfns challenge has no challenge string")
        client_data = json.dumps(
            {"type": "key.get", "challenge": challenge_text}, separators=(",", ":")
        ).encode()
        return {
            "kind": "Key",
            "credentialAssertion": {
                "credId": self.credential_id,
                "clientData": b64url(client_data),
                "signature": b64url(sign_bytes(self.key, client_data)),
            },
        }
