"""`/report` in `engage serve`: the portfolio report behind a signed per-recipient link.

403 without a link or with one not signed here, 410 with an expired one; never open. The page
loads nothing (its charts are inline PNG, its style inline), so its Content-Security-Policy
allows no script, no connection, no font and images only from ``data:`` URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from jobs.messages.catalog import Words
from jobs.report import links
from jobs.report.build import build_report
from jobs.store import Store
from jobs.store.report_view import PortfolioFilter

REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_REFUSED = {403: "This link is not valid.", 410: "This link has expired; ask for a new one."}


def report_route(
    store: Store, *, secret: str, clock: Callable[[], datetime], words: Words
) -> Route:
    async def report(request: Request) -> Response:
        now = clock()
        refused = links.check(request.query_params.get(links.PARAMETER), secret, now)
        headers = {"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"}
        if refused is not None:
            return PlainTextResponse(_REFUSED[refused], status_code=refused, headers=headers)
        language = "zh" if request.query_params.get("lang") == "zh" else "en"
        rendered, _count = await run_in_threadpool(
            build_report,
            store,
            PortfolioFilter(),
            now=now,
            since=None,
            language=language,
            words=words,
        )
        return HTMLResponse(rendered.html, headers=headers)

    return Route("/report", report, methods=["GET"])
