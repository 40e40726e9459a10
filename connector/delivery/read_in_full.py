"""What the tools read in full each run share (Microsoft Planner, Worktile): an app's
client-credentials token kept in memory, and one reading of each project's tasks per run.

Neither tool has a "changed since" filter, so each run lists a project's tasks in full: the
pages ``releases`` reads serve ``work_item_pages`` right after (the pull asks for both in turn),
and the keys ``work_item_pages`` listed serve ``work_item_keys`` (the deletions); each is
dropped once used, so the next run reads again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from connector.delivery.answers import json_object
from connector.delivery.base import DeliveryProject
from connector.delivery.tokens import ShortLivedToken
from connector.errors import AuthenticationError, trim_body
from connector.http import HttpTransport
from connector.redact import register_secret

Pages = list[list[dict[str, Any]]]


class ReadInFullClient:
    """The base of a client whose tool is read in full each run (see the module)."""

    #: Who answers the token call, in `json_object`'s error ("Microsoft", "Worktile").
    token_vendor = ""
    #: A token's life when the answer gives no ``expires_in``.
    default_token_seconds = 3600.0

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        transport: HttpTransport,
        clock: Callable[[], datetime] | None,
    ) -> None:
        register_secret(client_secret)
        self.client_id = client_id
        self._secret = client_secret
        self.transport = transport
        self.clock = clock or (lambda: datetime.now(UTC))
        self.token = ShortLivedToken(self._fetch_token, self.clock)
        #: The last full listing of each project's work items, for ``work_item_keys``.
        self._listed: dict[str, set[str]] = {}
        #: The task pages ``releases`` read, for ``work_item_pages`` (then dropped).
        self._read: dict[str, Pages] = {}

    # --- the token ---------------------------------------------------------------------------
    def _token_request(self) -> tuple[str, dict[str, Any]]:
        """The token call's URL and its body (``json=`` or ``data=``)."""
        raise NotImplementedError

    def _token_in(self, body: dict[str, Any]) -> str | None:
        """The token in an answer; None when the answer refuses."""
        raise NotImplementedError

    def _refusal(self, body: dict[str, Any]) -> tuple[str, str]:
        """A refused token call: the sentence (who refused whose credentials, and what they
        said) and the tool's code."""
        raise NotImplementedError

    def _fetch_token(self) -> tuple[str, float]:
        url, request = self._token_request()
        # Asking for a token twice gives two tokens, nothing else.
        response = self.transport.request("POST", url, idempotent=True, **request)
        body = json_object(response, self.token_vendor)
        token = self._token_in(body)
        if response.status_code >= 400 or not token:
            message, code = self._refusal(body)
            raise AuthenticationError(
                message,
                crm_code=code,
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            )
        return token, float(body.get("expires_in") or self.default_token_seconds)

    def check(self) -> None:
        """A new token: the tool knows the app and its secret."""
        self.token.refused()
        self.token.value()

    # --- one reading per run -----------------------------------------------------------------
    def _task_pages(self, project: DeliveryProject) -> Iterator[list[dict[str, Any]]]:
        raise NotImplementedError

    def _read_for_pages(self, project: DeliveryProject) -> Pages:
        """The project's task pages, read now and kept for ``work_item_pages``."""
        pages = list(self._task_pages(project))
        self._read[project.id] = pages
        return pages

    def _pages_read(self, project: DeliveryProject) -> Pages:
        """The pages ``releases`` read moments ago (then dropped), else a reading now."""
        return self._read.pop(project.id, None) or list(self._task_pages(project))

    def _listed_keys(self, project: DeliveryProject) -> set[str] | None:
        """The keys ``work_item_pages`` listed moments ago (then dropped); None if it did not."""
        return self._listed.pop(project.id, None)
