"""Following Dfns's paginated listings to the end: `limit`, `nextPageToken` and
`paginationToken` (dfns-api.md), bounded so that a server whose token never ends (or
cycles) cannot hold the provider or the audit for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import DfnsError, DfnsMalformedResponseError
from .transport import Answer, answer_date

PAGE_LIMIT = 100
# The most pages one listing follows: a million items at 100 a page, beyond any Dfns
# organisation's webhooks or a webhook's 31 days of events. A server whose
# nextPageToken never ends (or cycles) must not hold the provider or the audit for ever.
MAX_PAGES = 10_000


def all_pages(
    get: Callable[[dict[str, str]], Answer],
    path: str,
    params: dict[str, str],
    page_limit: int = PAGE_LIMIT,
) -> tuple[list[dict[str, Any]], float | None]:
    """Every item of a listing, and the `Date` of the last page's answer (epoch seconds,
    or None without one). `get` sends one GET of `path` with a query and returns an
    answer already checked to hold `items`."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        if len(seen) >= MAX_PAGES:
            raise DfnsMalformedResponseError(
                "GET", path, 200, f"the listing runs past {MAX_PAGES} pages; stopped"
            )
        query = dict(params, limit=str(page_limit))
        if token:
            query["paginationToken"] = token
        answer = get(query)
        body: dict[str, Any] = answer.body
        page = body["items"]
        if not isinstance(page, list):
            raise DfnsError(f"GET {path}: 'items' is not a list")
        items.extend(page)
        next_token = body.get("nextPageToken")
        if not next_token or next_token == token:
            return items, answer_date(answer)
        token = str(next_token)
        if token in seen:
            # A cycle (A, B, A, ...): following it would never end.
            raise DfnsMalformedResponseError(
                "GET",
                path,
                answer.status,
                "nextPageToken repeats the token of an earlier page: the listing "
                "would never end; stopped",
            )
        seen.add(token)
