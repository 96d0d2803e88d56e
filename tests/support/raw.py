"""Hand-built Dfns requests, for proving what the emulator accepts and refuses."""

from __future__ import annotations

import json
from typing import Any

import requests

from pulumi_dfns.signing import b64url, load_private_key, sign_bytes
from tests.support.emulator import EmulatorProcess


class RawDfns:
    def __init__(self, emulator: EmulatorProcess) -> None:
        creds = emulator.credentials()
        self.url = emulator.url
        self.token = creds["authToken"]
        self.credential_id = creds["credentialId"]
        with open(creds["privateKeyFile"]) as handle:
            self.key = load_private_key(handle.read())
        self.http = requests.Session()

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **extra}
        if token is not None or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        return headers

    def post_json(self, path: str, body: Any, token: str | None = None) -> requests.Response:
        return self.http.post(
            self.url + path, data=json.dumps(body), headers=self.headers(token), timeout=10
        )

    def challenge(self, method: str, path: str, payload: str) -> dict[str, Any]:
        response = self.post_json(
            "/auth/action/init",
            {
                "userActionPayload": payload,
                "userActionHttpMethod": method,
                "userActionHttpPath": path,
                "userActionServerKind": "Api",
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def client_data(self, issued: dict[str, Any], **fields: Any) -> bytes:
        """TypeScript SDK shape by default; fields added or overridden as given."""
        data = {"type": "key.get", "challenge": issued["challenge"], **fields}
        return json.dumps(data, separators=(",", ":")).encode()

    def redeem(
        self,
        challenge: dict[str, Any],
        client_data: bytes | None = None,
        signature: bytes | None = None,
        credential_id: str | None = None,
    ) -> requests.Response:
        data = client_data if client_data is not None else self.client_data(challenge)
        sig = signature if signature is not None else sign_bytes(self.key, data)
        return self.post_json(
            "/auth/action",
            {
                "challengeIdentifier": challenge["challengeIdentifier"],
                "firstFactor": {
                    "kind": "Key",
                    "credentialAssertion": {
                        "credId": credential_id or self.credential_id,
                        "clientData": b64url(data),
                        "signature": b64url(sig),
                    },
                },
            },
        )

    def user_action(self, method: str, path: str, payload: str) -> str:
        response = self.redeem(self.challenge(method, path, payload))
        assert response.status_code == 200, response.text
        token: str = response.json()["userAction"]
        return token

    def call(
        self, method: str, path: str, body: bytes, user_action: str | None
    ) -> requests.Response:
        extra = {"X-DFNS-USERACTION": user_action} if user_action else {}
        return self.http.request(
            method, self.url + path, data=body, headers=self.headers(**extra), timeout=10
        )

    def signed(self, method: str, path: str, body: bytes) -> requests.Response:
        return self.call(method, path, body, self.user_action(method, path, body.decode()))
