"""The emulator's first start: an organisation, a service account, its token and key,
and credentials.json (rewritten on every start, since the port may change).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from ..signing import generate_private_key, key_type_of, private_key_pem
from .clock import credential_ids, new_id

if TYPE_CHECKING:
    from .server import EmulatorConfig, EmulatorServer


def _write_owner_only(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def bootstrap(server: EmulatorServer, config: EmulatorConfig) -> dict[str, str]:
    """On first start: an org, a service account, its token and key; write credentials.json.

    credentials.json names both ids of the key credential: `credentialId` (base64url,
    what allowCredentials lists and `credId` carries: the id to configure as
    dfns:credentialId) and `credentialUuid` (`cr-...`, for Dfns's credential-management
    endpoints; never a credId).
    """
    path = config.data_dir / "credentials.json"
    key_file = config.data_dir / "service-account-key.pem"
    store = server.store
    if store.get_meta("org_id") is None:
        key = generate_private_key(config.key_type)
        org_id, user_id = new_id("or"), new_id("us")
        credential_id, credential_uuid = credential_ids()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        store.add_credential(credential_id, credential_uuid, user_id, key_type_of(key), public_pem)
        token = server.authority.issue_token(org_id, user_id)
        _write_owner_only(key_file, private_key_pem(key))
        store.set_meta(
            {
                "user_id": user_id,
                "service_account_token": token,
                "credential_id": credential_id,
                "credential_uuid": credential_uuid,
                # Last: its presence says the bootstrap finished.
                "org_id": org_id,
            }
        )
    credential_id = store.get_meta("credential_id") or ""
    if store.get_meta("credential_uuid") is None:
        # A data dir from an emulator that had one id for both: give it a uuid. Its
        # credentialId stays as it was (cr-shaped), so configured stacks keep working;
        # a new data dir gets Dfns-shaped ids.
        uuid = credential_ids()[1]
        store.set_credential_uuid(credential_id, uuid)
        store.set_meta({"credential_uuid": uuid})
    credentials = {
        "apiUrl": server.url,
        "authToken": store.get_meta("service_account_token") or "",
        "credentialId": credential_id,
        "credentialUuid": store.get_meta("credential_uuid") or "",
        "privateKeyFile": str(key_file.resolve()),
    }
    # The port may differ from the last start: rewrite so apiUrl is always current.
    _write_owner_only(path, json.dumps(credentials, indent=2))
    return credentials
