"""The emulator's way to refuse a request with Dfns's error envelope."""

from __future__ import annotations

import secrets
from typing import Any

_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
}


class ApiFailure(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        # Set when the request spent a user action token before failing (request log).
        self.user_action_consumed = False

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "id": f"er-{secrets.token_hex(8)}",
                "status": self.status,
                "name": _NAMES.get(self.status, "Error"),
                "message": self.message,
            }
        }
