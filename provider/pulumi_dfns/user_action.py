"""Dfns User Action Signing: a token for one change-making request, and which refusals
a fresh challenge may pass.

A signed call first asks for a challenge bound to the exact request (POST
/auth/action/init), signs it with the credential's key, and exchanges the signature for
a single-use token (POST /auth/action), sent as `X-DFNS-USERACTION` (dfns-api.md). The
client (client.py) decides when to sign and how to retry; this module holds the
exchange itself.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import DfnsSettingsError, DfnsSigningError, DfnsUserActionError
from .signing import Credential
from .transport import Answer, answer_date, encode_json, error_from, expect_object

# How the client sends one unsigned request: method, path, headers, body, query.
Send = Callable[[str, str, dict[str, str], bytes | None, dict[str, str] | None], Answer]


def user_action_refusal(path: str, status: int, message: str) -> str | None:
    """The cause, when an answer refuses the user action itself rather than the key or
    a permission, so that a fresh challenge may pass.

    Sources: dfns/dfns-api-docs getting-started/errors.md documents 400 "user action has
    already been used" (and 403 "user action signature is missing or invalid", not
    retried); the 2024 User Action Signing pages answer 400 for an invalid challenge.
    Lifetimes and the wording for expiry are [assumed] (dfns-api.md): a 403 naming
    "expired" on a signed call is taken as an expired token. The emulator's older
    answers (401 at /auth/action, 403 for a used token) are read the same way.
    """
    text = message.lower()
    if path == "/auth/action":
        # A refused signature stays the key's fault, even if the message names the
        # challenge it was for.
        about_challenge = "challenge" in text and "signature" not in text
        lifecycle = any(w in text for w in ("expired", "used", "unknown", "invalid", "not found"))
        if status in (400, 401) and about_challenge and lifecycle:
            reason = "expired" if "expired" in text else "unknown or already used"
            return f"the signing challenge as {reason} ({message})"
        return None
    if status not in (400, 401, 403):
        return None
    # The documented wording names the user action; a 400 about anything else that was
    # "already used" (a name, an address) is Dfns's verdict on the request, not the token.
    if "user action" in text and "already" in text and "used" in text:
        return f"the user action token as already used ({message})"
    if status == 403 and "expired" in text:
        return f"the user action token as expired ({message})"
    return None


def user_action_token(
    send: Send,
    headers: dict[str, str],
    credential: Credential | None,
    method: str,
    path: str,
    data: bytes | None,
) -> tuple[str, float | None]:
    """A user action token for this exact request, and the `Date` of its answer.

    `headers`: the client's headers for a JSON body (bearer token included).
    """
    if credential is None:
        raise DfnsSettingsError(
            "dfns:credentialId", "changing webhooks needs a signing credential and key"
        )
    init_body = encode_json(
        {
            "userActionPayload": data.decode("utf-8") if data is not None else "",
            "userActionHttpMethod": method,
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        }
    )
    answer = send("POST", "/auth/action/init", dict(headers), init_body, None)
    if answer.status >= 300:
        raise error_from("POST", "/auth/action/init", answer)
    challenge = expect_object(
        "POST", "/auth/action/init", answer, "challenge", "challengeIdentifier"
    )
    assertion = credential.assertion_for(challenge)
    sign_body = encode_json(
        {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": assertion}
    )
    answer = send("POST", "/auth/action", dict(headers), sign_body, None)
    if answer.status in (400, 401, 403):
        refused = error_from("POST", "/auth/action", answer)
        cause = user_action_refusal("/auth/action", answer.status, refused.dfns_message)
        if cause is not None:
            raise DfnsUserActionError(
                "POST", "/auth/action", answer.status, refused.dfns_message, cause, False
            )
        # The token passed /auth/action/init, and the challenge was not refused:
        # a refusal here is about the key.
        raise DfnsSigningError(
            f"Dfns refused the user action signature of credential "
            f"{credential.shown_id} (HTTP {answer.status}: "
            f"{refused.dfns_message or 'no message'}): dfns:privateKey must be the "
            "private key registered for dfns:credentialId"
        )
    if answer.status >= 300:
        raise error_from("POST", "/auth/action", answer)
    token = expect_object("POST", "/auth/action", answer, "userAction")["userAction"]
    return str(token), answer_date(answer)
