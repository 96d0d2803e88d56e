"""The official Dfns SDKs against the emulator: each signs and sends its own shapes,
and the emulator must accept them all.

- Python `dfns-sdk` 1.0.4 (the test extra) and TypeScript `@dfns/sdk` 0.8.21 with
  `@dfns/sdk-keysigner` run for real, full lifecycles.
- dfns-sdk-java and dfns-sdk-go cannot run here (no JDK, no Go toolchain): their
  requests are reproduced by hand from their sources, cited at each helper.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner

from pulumi_dfns.signing import KEY_TYPES, b64url, sign_bytes
from tests.support.emulator import EmulatorProcess
from tests.support.raw import RawDfns

# Nothing listens on the discard port: pings are refused at once, nothing leaves loopback.
RECEIVER = "http://127.0.0.1:9/hook"
NON_ASCII = "Zürich — 東京 ✓ <&>"


def sdk_client(emulator: EmulatorProcess) -> DfnsClient:
    creds = emulator.credentials()
    signer = KeySigner(creds["credentialId"], Path(creds["privateKeyFile"]).read_text())
    return DfnsClient(
        DfnsClientConfig(auth_token=creds["authToken"], base_url=creds["apiUrl"], signer=signer)
    )


def consumed(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in emulator.requests_log() if e["userActionConsumed"]]


def lifecycle_calls(webhook_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/webhooks"),
        ("PUT", f"/webhooks/{webhook_id}"),
        ("PUT", f"/webhooks/{webhook_id}"),
        ("POST", f"/webhooks/{webhook_id}/ping"),
        ("DELETE", f"/webhooks/{webhook_id}"),
    ]


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_python_sdk_full_lifecycle(
    start_emulator: Callable[..., EmulatorProcess], key_type: str
) -> None:
    emulator = start_emulator("--key-type", key_type)
    sdk = sdk_client(emulator)
    created = sdk.webhooks.create_webhook(
        {"url": RECEIVER, "events": ["wallet.created"], "description": NON_ASCII}
    )
    webhook_id = created["id"]
    assert created["secret"]
    assert created["description"] == NON_ASCII  # signed with ASCII escapes, sent as UTF-8
    # `{}`: the SDK signs "" and sends {}.
    assert sdk.webhooks.update_webhook(webhook_id, {})["description"] == NON_ASCII
    updated = sdk.webhooks.update_webhook(webhook_id, {"description": "naïve café"})
    assert updated["description"] == "naïve café"
    pinged = sdk.webhooks.ping_webhook(webhook_id)  # no body, payload ""
    assert pinged["status"] == "0"
    assert sdk.webhooks.get_webhook(webhook_id)["status"] == "Enabled"
    assert sdk.webhooks.delete_webhook(webhook_id) == {"deleted": True}  # no body
    assert emulator.webhooks() == []
    assert consumed(emulator) == lifecycle_calls(webhook_id)


def test_python_sdk_sees_dfns_errors(emulator: EmulatorProcess) -> None:
    sdk = sdk_client(emulator)
    with pytest.raises(DfnsError) as caught:
        sdk.webhooks.create_webhook({"url": RECEIVER, "events": []})
    assert caught.value.status_code == 400


# -- dfns-sdk-java, by hand ---------------------------------------------------------------


class JavaShapes:
    """What dfns-sdk-java sends (dfns/dfns-sdk-java):

    - src/main/java/co/dfns/sdk/internal/DfnsHttpClient.java, obtainUserActionToken: the
      payload is Jackson's `writeValueAsString(body)`, or `"{}"` when there is no body;
      buildRequest sends the same Jackson text, or no body at all (`noBody()`).
    - src/main/java/co/dfns/sdk/auth/KeySigner.java, buildClientData: a LinkedHashMap
      `type`, `challenge`, `crossOrigin: false`, written compactly by Jackson.
    Jackson writes compact JSON and leaves non-ASCII characters as UTF-8.
    """

    def __init__(self, raw: RawDfns) -> None:
        self.raw = raw

    @staticmethod
    def jackson(body: dict[str, Any]) -> str:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        payload = self.jackson(body) if body is not None else "{}"
        challenge = self.raw.challenge(method, path, payload)
        data = json.dumps(
            {"type": "key.get", "challenge": challenge["challenge"], "crossOrigin": False},
            separators=(",", ":"),
        ).encode()
        answer = self.raw.redeem(challenge, data)
        assert answer.status_code == 200, answer.text
        sent = payload.encode() if body is not None else b""
        response = self.raw.call(method, path, sent, answer.json()["userAction"])
        assert response.status_code == 200, response.text
        return response.json()


class GoShapes:
    """What dfns-sdk-go sends (dfns/dfns-sdk-go):

    - internal/client/client.go, Do: `json.Marshal(body)` is both signed
      (createUserActionChallenge: `userActionPayload: string(body)`) and sent; with no
      body (DeleteWebhook, PingWebhook pass nil) the payload is "" and no body is sent.
    - signer/key.go, Sign: clientData is `json.Marshal` of a map: keys sorted
      (`challenge`, `crossOrigin`, `type`), compact.
    Go's encoding/json escapes <, > and & as \\u003c, \\u003e, \\u0026 and writes other
    non-ASCII characters as UTF-8.
    """

    def __init__(self, raw: RawDfns) -> None:
        self.raw = raw

    @staticmethod
    def marshal(body: dict[str, Any]) -> str:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        payload = self.marshal(body) if body is not None else ""
        challenge = self.raw.challenge(method, path, payload)
        data = json.dumps(
            {"challenge": challenge["challenge"], "crossOrigin": False, "type": "key.get"},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        signature = sign_bytes(self.raw.key, data)
        answer = self.raw.post_json(
            "/auth/action",
            {
                "challengeIdentifier": challenge["challengeIdentifier"],
                "firstFactor": {
                    "kind": "Key",
                    "credentialAssertion": {
                        "credId": self.raw.credential_id,
                        "clientData": b64url(data),
                        "signature": b64url(signature),
                    },
                },
            },
        )
        assert answer.status_code == 200, answer.text
        response = self.raw.call(method, path, payload.encode(), answer.json()["userAction"])
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.parametrize("shapes", [JavaShapes, GoShapes], ids=["java", "go"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_java_and_go_request_shapes_full_lifecycle(
    start_emulator: Callable[..., EmulatorProcess], key_type: str, shapes: type[Any]
) -> None:
    emulator = start_emulator("--key-type", key_type)
    sdk = shapes(RawDfns(emulator))
    created = sdk.call(
        "POST",
        "/webhooks",
        {"url": RECEIVER, "description": NON_ASCII, "events": ["wallet.created"]},
    )
    webhook_id = created["id"]
    path = f"/webhooks/{webhook_id}"
    assert created["description"] == NON_ASCII
    assert sdk.call("PUT", path, {})["description"] == NON_ASCII
    assert sdk.call("PUT", path, {"description": "naïve"})["description"] == "naïve"
    assert sdk.call("POST", f"{path}/ping", None)["status"] == "0"
    assert sdk.call("DELETE", path, None) == {"deleted": True}
    assert emulator.webhooks() == []
    assert consumed(emulator) == lifecycle_calls(webhook_id)


# -- @dfns/sdk (TypeScript), for real ------------------------------------------------------

TS_SDK = "@dfns/sdk@0.8.21"
# The newest @dfns/sdk-keysigner is 0.8.3 and declares a peer dependency on @dfns/sdk
# 0.8.3 exactly; it uses only `DfnsError` and `toBase64Url` from it, both in 0.8.21.
TS_KEYSIGNER = "@dfns/sdk-keysigner@0.8.3"
TS_SCRIPT = Path(__file__).parent / "support" / "dfns_sdk_ts.cjs"


def in_ci() -> bool:
    """CI sets CI=true (.ci/run's caller; GitHub Actions and most others do the same)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine without node; in CI a missing tool fails the run:
    a green CI must have run the TypeScript SDK."""
    if in_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def npm_packages() -> tuple[str, Path]:
    """Install the TypeScript SDK once into a cache outside the repository; answer the
    node executable and the node_modules directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed to run the TypeScript SDK")
    cache = Path(
        os.environ.get("PULUMI_DFNS_NPM_CACHE", Path.home() / ".cache" / "pulumi-dfns-tests")
    )
    prefix = cache / "dfns-sdk-0.8.21"
    modules = prefix / "node_modules"
    prefix.mkdir(parents=True, exist_ok=True)
    # One install at a time: xdist workers run the key types in parallel.
    with (cache / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (modules / "@dfns" / "sdk-keysigner").is_dir():
            install(npm, prefix)
    return node, modules


def install(npm: str, prefix: Path) -> None:
    run = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--legacy-peer-deps",
            TS_SDK,
            TS_KEYSIGNER,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        unavailable(f"npm could not install {TS_SDK}: {run.stderr.strip()[-300:]}")


@pytest.mark.processes
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_typescript_sdk_full_lifecycle(
    start_emulator: Callable[..., EmulatorProcess], key_type: str
) -> None:
    node, modules = npm_packages()
    emulator = start_emulator("--key-type", key_type)
    creds = emulator.credentials()
    run = subprocess.run(
        [node, str(TS_SCRIPT)],
        input=json.dumps({**creds, "receiverUrl": RECEIVER}),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    webhook_id = result["created"]["id"]
    assert result["created"]["description"] == "Zürich — 東京 ✓"
    assert result["unchanged"]["description"] == "Zürich — 東京 ✓"  # body {} signed and sent
    assert result["updated"]["description"] == "naïve café"
    assert result["pinged"]["status"] == "0"
    assert result["deleted"] == {"deleted": True}  # DELETE signs and sends {}
    assert result["refusal"]["httpStatus"] == 400
    assert emulator.webhooks() == []
    # The lifecycle, then the refused create (its user action was spent on a 400).
    assert consumed(emulator) == [*lifecycle_calls(webhook_id), ("POST", "/webhooks")]
