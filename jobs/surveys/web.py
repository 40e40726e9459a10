"""The response page (`engage serve`): one form per invitation, no login, a signed link.

Status codes a respondent's browser gets: 200 form / thank-you; 400 malformed link or form;
403 forged link or failed anti-forgery check; 404 unknown invitation; 409 already answered;
410 expired; 413 body over MAX_BODY_BYTES; 415 not a form; 422 invalid answers; 429 too many tries.
Nothing is stored unless every check passes.

Anti-forgery: the page sets a random ``engage_csrf`` cookie (HttpOnly, SameSite=Strict) and
puts HMAC(secret, link token + cookie) in the form; a POST must carry both and they must match,
so another site can neither read the value nor make the browser send the cookie.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.messages.catalog import Words
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.i18n import from_accept_language, texts
from jobs.surveys.records import Invitation
from jobs.surveys.templating import environment
from jobs.surveys.tokens import (
    TokenError,
    csrf_token,
    csrf_valid,
    mint_nonce,
    minted_nonce,
    verify,
)
from jobs.surveys.triggers import KIND_NPS_CSAT

MAX_COMMENT_CHARS = 4000
#: Largest request body accepted. The page promises 4,000 characters of comment in any script:
#: form-encoded, one character is at most 12 bytes (a 4-byte UTF-8 character, %XX each), so
#: 4,000 of them plus the other fields (well under 2 KB) fit; the comment's length is then
#: checked in characters. Anything larger is refused before it is read whole.
MAX_BODY_BYTES = MAX_COMMENT_CHARS * 12 + 2048
CSRF_COOKIE = "engage_csrf"
_SCORE = re.compile(r"^\d{1,2}$")
_TOKEN_STATUS = {"malformed": 400, "forged": 403, "expired": 410}

#: Sent with every response, the framework's own (404, 405, 500) included: see SecurityHeaders.
_HEADERS = {
    # The link token is in the URL: never send it on as a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class RateLimiter:
    """At most ``limit`` hits per client address in any ``window``; time from ``clock``."""

    def __init__(
        self, limit: int, clock: Callable[[], datetime], window: timedelta = timedelta(minutes=1)
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._window = window
        self._hits: dict[str, deque[datetime]] = {}

    def allow(self, address: str) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(address, deque())
        while hits and now - hits[0] >= self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # bound memory: forget addresses with no recent hits
            for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self._window]:
                del self._hits[key]
        return True


def create_app(
    store: SurveyStore,
    config: SurveysSection,
    *,
    secret: str,
    clock: Callable[[], datetime],
    words: Words | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> SecurityHeaders:
    """The response page as an ASGI app. Long because its routes are closures over the store,
    the secret, the clock and the rate limiter, so they are defined inside it.
    ``words``: the catalogs (with the company's overrides); ``extra_routes``: other pages
    `engage serve` serves beside it (the portfolio report, jobs/report/web.py)."""
    limiter = RateLimiter(config.rate_limit_per_minute, clock)
    secure_cookie = config.base_url.startswith("https://")
    env = environment()

    def page(name: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(t=texts(language, words), **context)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def request_language(request: Request, invitation: Invitation | None = None) -> str:
        if invitation is not None and invitation.language:
            return invitation.language
        return from_accept_language(request.headers.get("accept-language"), config.default_language)

    def error(request: Request, key: str, status: int, invitation: Invitation | None = None,
              **fmt: str) -> HTMLResponse:  # fmt: skip
        language = request_language(request, invitation)
        message = texts(language, words)[key].format(**fmt)
        return page("error.html", language, status, message=message)

    def resolve(request: Request, token: str) -> Invitation | HTMLResponse:
        try:
            invitation_id = verify(token, secret, clock())
        except TokenError as exc:
            return error(request, f"error_{exc.reason}", _TOKEN_STATUS[exc.reason])
        invitation = store.invitation(invitation_id)
        if invitation is None:
            return error(request, "error_unknown", 404)
        if invitation.answered_at is not None or store.is_answered(invitation.id):
            return error(request, "error_used", 409, invitation)
        return invitation

    async def show(request: Request) -> Response:
        token = request.path_params["token"]
        found = resolve(request, token)
        if isinstance(found, HTMLResponse):
            return found
        # Kept only if this server minted it (another tab of the same browser); a value planted
        # by someone else is replaced.
        nonce = minted_nonce(secret, request.cookies.get(CSRF_COOKIE)) or mint_nonce(secret)
        response = page(
            "survey.html",
            request_language(request, found),
            action=f"/s/{token}",
            csrf=csrf_token(secret, token, nonce),
            engagement=found.engagement_name or "",
            ask_nps=found.kind == KIND_NPS_CSAT,
        )
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure_cookie, path="/s/"
        )
        return response

    async def submit(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        if not limiter.allow(address):
            response = error(request, "error_rate", 429)
            response.headers["Retry-After"] = "60"
            return response
        try:
            body = await _read_limited(request)
        except ClientDisconnect:
            # Gone before the body arrived (or closed by the request timeout): nobody to answer.
            return Response(status_code=408)
        if body is None:
            return error(request, "error_too_large", 413)
        token = request.path_params["token"]
        found = resolve(request, token)
        if isinstance(found, HTMLResponse):
            return found
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return error(request, "error_invalid", 415, found, fields="form")
        try:
            form = _parse_form(body)
        except ValueError:
            return error(request, "error_invalid", 400, found, fields="form")
        if not form.get("csrf", "").isascii():
            return error(request, "error_invalid", 400, found, fields="csrf")
        if not csrf_valid(
            secret, token, request.cookies.get(CSRF_COOKIE, ""), form.get("csrf", "")
        ):
            return error(request, "error_csrf", 403, found)
        answers, problems = validate_answers(form, ask_nps=found.kind == KIND_NPS_CSAT)
        if problems:
            return error(request, "error_invalid", 422, found, fields=", ".join(problems))
        saved = store.save_response(
            found,
            nps=answers["nps"],
            csat=answers["csat"],
            comment=answers["comment"],
            now=clock(),
        )
        if not saved:
            return error(request, "error_used", 409, found)
        return page("thanks.html", request_language(request, found), comment=answers["comment"])

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return SecurityHeaders(
        Starlette(
            routes=[
                Route("/s/{token}", show, methods=["GET"]),
                Route("/s/{token}", submit, methods=["POST"]),
                Route("/healthz", health, methods=["GET"]),
                *extra_routes,
            ]
        )
    )


class SecurityHeaders:
    """Outermost ASGI layer: every response carries ``_HEADERS``. Outside Starlette's own error
    middleware, so its 404, 405 and 500 pages get them too (Starlette middleware sits inside)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None when it is (or claims to be) larger than MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_form(body: bytes) -> dict[str, str]:
    """One value per field; a repeated field is refused rather than guessed."""
    parsed = parse_qs(
        body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
    )
    if any(len(values) > 1 for values in parsed.values()):
        raise ValueError("a field was sent twice")
    return {key: values[0] for key, values in parsed.items()}


def validate_answers(form: Mapping[str, str], *, ask_nps: bool) -> tuple[dict[str, Any], list[str]]:
    """The typed answers, and the names of the fields that are missing or out of range."""
    problems: list[str] = []

    def score(name: str, low: int, high: int, required: bool) -> int | None:
        raw = form.get(name, "").strip()
        if not raw:
            if required:
                problems.append(name)
            return None
        if not _SCORE.match(raw) or not low <= int(raw) <= high:
            problems.append(name)
            return None
        return int(raw)

    nps = score("nps", 0, 10, ask_nps) if ask_nps else None
    csat = score("csat", 1, 5, True)
    # Browsers send a textarea's line breaks as CRLF but count each as one character against
    # maxlength: store and count them as the respondent typed them, one "\n" each.
    comment = form.get("comment", "").replace("\r\n", "\n").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        problems.append("comment")
    return {"nps": nps, "csat": csat, "comment": comment}, problems
