"""What `explain` tells the user, for refusals that depend on which config is in use."""

from __future__ import annotations

from pulumi_dfns.errors import DfnsForbiddenError, DfnsUnauthorizedError
from pulumi_dfns.provider import explain


def test_a_403_at_refresh_names_the_permission_and_the_stored_config() -> None:
    exc = DfnsForbiddenError("GET", "/webhooks/wh-1", 403, "missing permission Webhooks:Read")
    text = str(explain("reading webhook wh-1", "Webhooks:Read", exc, stored_config=True))
    assert "HTTP 403: missing permission Webhooks:Read" in text
    assert "needs the Webhooks:Read permission" in text
    assert "stored in the state at that `pulumi up`" in text


def test_a_401_at_create_points_at_the_stack_config() -> None:
    # `pulumi up` runs the program: the provider holds the stack config as it is now.
    exc = DfnsUnauthorizedError("POST", "/webhooks", 401, "invalid token")
    text = str(explain("creating webhook for https://x.example", "Webhooks:Create", exc))
    assert "pulumi config set --secret dfns:authToken" in text
    assert "Run `pulumi up` first" not in text
