"""One exception family for everything that can go wrong talking to Dfns.

Every message is written for the person running `pulumi up`: it names the operation,
the HTTP status, Dfns's own words and, where there is one, the next step. No message
ever carries the auth token, a private key or a webhook secret: they are built only
from the method, the path, the status and Dfns's error body.
"""

from __future__ import annotations

from .redact import shown_text


class DfnsError(Exception):
    """Base of every error this package raises about Dfns or its settings."""


class DfnsSettingsError(DfnsError):
    """A setting (stack config or environment) is missing or unusable."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"{setting}: {reason}")


class DfnsSigningError(DfnsError):
    """User Action Signing could not produce an assertion Dfns would accept."""


class DfnsTransportError(DfnsError):
    """The request did not get an HTTP answer (connection refused, reset, timed out)."""

    def __init__(self, method: str, path: str, reason: str, *, maybe_applied: bool) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        # True when the request may have reached Dfns and been acted on: the caller must
        # not blindly repeat a non-idempotent call.
        self.maybe_applied = maybe_applied
        super().__init__(f"{method} {path}: no answer from Dfns ({reason})")


class DfnsMalformedResponseError(DfnsError):
    """Dfns answered, but not with what its API promises."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(f"{method} {path}: HTTP {status} with an unexpected answer: {reason}")


class DfnsApiError(DfnsError):
    """Dfns answered with an error status (or 202 pending approval)."""

    hint = ""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        message: str,
        error_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        # Dfns's words, with any url in them redacted (a receiver url may hold
        # credentials) and cut: this text reaches CI logs.
        message = shown_text(message)
        self.dfns_message = message
        self.error_id = error_id
        self.retry_after = retry_after
        text = f"{method} {path}: HTTP {status}: {message or 'no message'}"
        if error_id:
            text += f" (Dfns error id {error_id})"
        if self.hint:
            text += f". {self.hint}"
        super().__init__(text)


# `pulumi refresh`, `pulumi destroy` and the refresh phase of `--refresh` do not run the
# program: the engine configures the provider from the default provider's inputs stored in
# the state at the last `pulumi up` (pulumi/pulumi pkg/resource/deploy/
# deployment_executor.go `refresh` -> deployment.go `EnsureProvider` -> providers/
# registry.go `Same`, which calls Configure with the stored `res.Inputs`; those inputs are
# the whole stack config, target.go `GetPackageConfig`). With `--run-program` (CLI 3.160+,
# pkg/cmd/pulumi/operations/refresh.go and destroy.go) the program registers the provider
# with the current config (step_generator.go: providers are not skipped in refresh mode).
# settings.py reads a DFNS_* variable only where the config lacks the key.
STORED_CONFIG_NOTE = (
    "If you changed dfns:authToken or another dfns:* setting since the last `pulumi up`: "
    "`pulumi refresh` and `pulumi destroy` (and the refresh of `--refresh`) run without your "
    "program and use the dfns:* config stored in the state at that `pulumi up`, not the "
    "stack config as it is now, and DFNS_* variables count only for keys it does not hold. "
    "Run `pulumi up` first to store the new config, or add --run-program to `pulumi "
    "refresh`/`pulumi destroy` (pulumi CLI 3.160 or later), then run it again"
)


class DfnsUserActionError(DfnsApiError):
    """Dfns refused the user action itself: the signing challenge or the user action token
    had expired or was already used. Neither the key nor a permission is at fault, and a
    fresh challenge may pass (the client tries once more)."""

    def __init__(
        self, method: str, path: str, status: int, message: str, cause: str, retried: bool
    ) -> None:
        self.cause = cause
        again = " again after one retry with a fresh challenge" if retried else ""
        self.hint = (
            f"Dfns refused {cause}{again}; the key and permissions are not at fault: the "
            "time between signing and sending ran past Dfns's lifetime (a slow network or "
            "proxy, or a paused process); run the command again"
        )
        super().__init__(method, path, status, message)


class DfnsUnauthorizedError(DfnsApiError):
    hint = (
        "The auth token is invalid, expired or for another region: check dfns:authToken "
        "and dfns:apiUrl (`pulumi config set --secret dfns:authToken ...`); `pulumi refresh` "
        "and `pulumi destroy` use the values stored at the last `pulumi up`"
    )


class DfnsForbiddenError(DfnsApiError):
    hint = (
        "The token lacks a permission or the user action was refused: the service account "
        "needs Webhooks:Create, Webhooks:Read, Webhooks:Update and Webhooks:Delete"
    )


class DfnsNotFoundError(DfnsApiError):
    pass


class DfnsConflictError(DfnsApiError):
    pass


class DfnsRateLimitedError(DfnsApiError):
    hint = "Dfns rate-limited this organisation; wait for the window to pass and retry"


class DfnsServerError(DfnsApiError):
    hint = "Dfns had an internal problem; retry later"


class DfnsPendingApprovalError(DfnsApiError):
    """202: a Dfns policy holds the change until someone approves it."""

    hint = (
        "A Dfns policy holds this change pending approval: approve it in Dfns, then run "
        "`pulumi refresh` and `pulumi up` again"
    )


_BY_STATUS: dict[int, type[DfnsApiError]] = {
    202: DfnsPendingApprovalError,
    401: DfnsUnauthorizedError,
    403: DfnsForbiddenError,
    404: DfnsNotFoundError,
    409: DfnsConflictError,
    429: DfnsRateLimitedError,
}


def api_error_class(status: int) -> type[DfnsApiError]:
    """The most specific error class for an HTTP status."""
    if status >= 500:
        return DfnsServerError
    return _BY_STATUS.get(status, DfnsApiError)
