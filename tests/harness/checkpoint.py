"""The stack's state: resources as the engine records them, written to and read back
from a JSON checkpoint.

Shape after sdk/go/common/apitype (CheckpointV3 / ResourceV3): each resource has urn,
type, custom, id, inputs, outputs, parent, provider, delete (a replaced resource
waiting for its delete), additionalSecretOutputs, protect, retainOnDelete, external (a
resource read with `.get`, whose lifecycle Pulumi does not own). Secrets are marked as in
pkg/resource/stack/deployment.go SerializePropertyValue: `{SIG: SECRET_SIG,
"ciphertext": ...}`; the ciphertext here is AES-256-GCM under a key derived from
PULUMI_CONFIG_PASSPHRASE (the real passphrase provider uses the same cipher with its
own key derivation and format: only the marking is meant to be faithful).
"""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .wire import SECRET_SIG, SIG, Props, is_secret

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


@dataclass
class ResourceState:
    urn: str
    type: str
    custom: bool
    id: str = ""
    inputs: Props = field(default_factory=dict)
    outputs: Props = field(default_factory=dict)
    parent: str = ""
    provider: str = ""
    delete: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)
    delete_before_replace: bool | None = None
    # resource.State Protect, RetainOnDelete, External (sdk/go/common/resource/resource_state.go):
    # kept in the checkpoint so that a later deployment's deletes honour them.
    protect: bool = False
    retain_on_delete: bool = False
    external: bool = False

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[1]

    def copy(self) -> ResourceState:
        return copy.deepcopy(self)


class Cipher:
    def __init__(self, passphrase: str, salt: bytes) -> None:
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=20_000)
        self.salt = salt
        self._aead = AESGCM(kdf.derive(passphrase.encode()))

    def encrypt(self, value: Any) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(value).encode(), None)
        return "v1:" + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, text: str) -> Any:
        raw = base64.b64decode(text.removeprefix("v1:"))
        return json.loads(self._aead.decrypt(raw[:12], raw[12:], None))


def _seal(value: Any, cipher: Cipher) -> Any:
    if is_secret(value):
        return {SIG: SECRET_SIG, "ciphertext": cipher.encrypt(value["value"])}
    if isinstance(value, dict):
        return {k: _seal(v, cipher) for k, v in value.items()}
    if isinstance(value, list):
        return [_seal(v, cipher) for v in value]
    return value


def _open(value: Any, cipher: Cipher) -> Any:
    if isinstance(value, dict) and value.get(SIG) == SECRET_SIG and "ciphertext" in value:
        return {SIG: SECRET_SIG, "value": cipher.decrypt(value["ciphertext"])}
    if isinstance(value, dict):
        return {k: _open(v, cipher) for k, v in value.items()}
    if isinstance(value, list):
        return [_open(v, cipher) for v in value]
    return value


@dataclass
class Checkpoint:
    stack: str
    resources: list[ResourceState] = field(default_factory=list)

    def find(self, urn: str) -> ResourceState | None:
        return next((r for r in self.resources if r.urn == urn and not r.delete), None)

    def custom_resources(self) -> list[ResourceState]:
        return [
            r
            for r in self.resources
            if r.custom and not r.type.startswith(PROVIDER_TYPE_PREFIX) and not r.delete
        ]

    def stack_outputs(self) -> Props:
        root = next((r for r in self.resources if r.type == STACK_TYPE), None)
        return root.outputs if root else {}


def checkpoint_path(state_dir: Path, project: str, stack: str) -> Path:
    # pkg/backend/diy/store.go projectReferenceStore: .pulumi/stacks/<project>/<stack>.json
    return state_dir / ".pulumi" / "stacks" / project / f"{stack}.json"


def write(path: Path, checkpoint: Checkpoint, passphrase: str) -> None:
    salt = os.urandom(16)
    cipher = Cipher(passphrase, salt)
    resources = []
    for res in checkpoint.resources:
        doc = asdict(res)
        doc["inputs"] = _seal(res.inputs, cipher)
        doc["outputs"] = _seal(res.outputs, cipher)
        resources.append(doc)
    doc = {
        "version": 3,
        "checkpoint": {
            "stack": checkpoint.stack,
            "latest": {
                "secrets_providers": {
                    "type": "harness-passphrase",
                    "state": {"salt": base64.b64encode(salt).decode()},
                },
                "resources": resources,
            },
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp.replace(path)


def read(path: Path, stack: str, passphrase: str) -> Checkpoint:
    if not path.exists():
        return Checkpoint(stack)
    latest = json.loads(path.read_text())["checkpoint"]["latest"]
    salt = base64.b64decode(latest["secrets_providers"]["state"]["salt"])
    cipher = Cipher(passphrase, salt)
    resources = []
    for doc in latest["resources"]:
        doc["inputs"] = _open(doc["inputs"], cipher)
        doc["outputs"] = _open(doc["outputs"], cipher)
        resources.append(ResourceState(**doc))
    return Checkpoint(stack, resources)
