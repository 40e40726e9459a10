"""Trello (REST API v1), read only: boards, their lists and labels, cards, card actions
(research/fxiaoke_and_tools.md Part B; developer.atlassian.com/cloud/trello).

- Auth: the API key and a user token. Trello takes them as ``?key=&token=`` query parameters
  or in an ``Authorization: OAuth oauth_consumer_key="…", oauth_token="…"`` header; the header
  is used, so the token never sits in a URL that a proxy or a log might keep.
- A board is a project (its key: the board id or short link). Its lists are the stages: a
  card's status is the name of its list. Cards are milestones or work items by the mapping's
  rules (``milestone_labels``: a card with one of these labels; ``milestone_lists``: a card in
  one of these lists); a milestone's due date is ``due``, delivered when ``dueComplete``, on
  the day of the action that completed it.
- History: ``updateCard`` actions that changed ``idList`` (``listBefore``/``listAfter``) are a
  card's status changes; the time spent in "Waiting for client" is read from them.
- Incremental by ``since`` on the board's actions: the cursor is the newest action id read.
  Whether ``since`` includes the action it names is not documented (UNCONFIRMED): the cards
  touched are re-read either way, so both readings give the same facts. ``deleteCard``
  actions and the board's card listing tell deletions.
- Priorities: Trello has none of its own; teams add a "Priority" dropdown (Custom Fields).
  Its option is the card's priority (``priority_field`` names the field); a card without one
  has none, and the mapping's ``tickets.no_priority`` decides.
- Rate limits: 100 requests per 10 s per token, 300 per key. The client's session paces itself
  under the token's limit (``connector/delivery/pacing.py``); a 429 that still comes (another
  app on the same key) is retried by the one retry policy. Trello sends no Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from connector.delivery.base import (
    DeliveryProject,
    Release,
    StatusChange,
    Vocabulary,
    WorkItem,
    WorkItemPage,
)
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    RecordError,
    UnavailableError,
    trim_body,
)
from connector.http import HttpTransport
from connector.redact import register_secret

API_URL = "https://api.trello.com"
#: Trello's documented ceiling for one token.
TOKEN_LIMIT = 100
LIMIT_WINDOW = timedelta(seconds=10)
#: Actions per page: Trello's greatest ``limit``.
ACTIONS_PAGE = 1000
#: Work items per page handed to the pull (the pull stores one page at a time).
ITEMS_PAGE = 100
#: The actions that change cards: what an incremental pull looks for.
CARD_ACTIONS = "createCard,updateCard,deleteCard,moveCardToBoard,moveCardFromBoard,copyCard"
CARD_FIELDS = "name,idList,idLabels,closed,due,dueComplete,start,dateLastActivity,shortLink"
NO_LABEL = "Card"


def parse_trello_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def created_from_id(trello_id: str) -> datetime:
    """Trello ids start with the creation time: eight hex digits of Unix seconds."""
    return datetime.fromtimestamp(int(trello_id[:8], 16), UTC)


class TrelloClient:
    """Boards of one Trello member, read through REST v1 (implements `DeliverySource`)."""

    tool = "trello"

    def __init__(
        self,
        api_key: str,
        token: str,
        transport: HttpTransport,
        *,
        base_url: str = API_URL,
        milestone_labels: tuple[str, ...] = (),
        milestone_lists: tuple[str, ...] = (),
        priority_field: str = "Priority",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        register_secret(token)
        self.base_url = base_url.rstrip("/")
        self._authorization = f'OAuth oauth_consumer_key="{api_key}", oauth_token="{token}"'
        register_secret(self._authorization)
        self.transport = transport
        self.milestone_labels = frozenset(milestone_labels)
        self.milestone_lists = frozenset(milestone_lists)
        self.priority_field = priority_field
        self.clock = clock or (lambda: datetime.now(UTC))

    # --- the request path ------------------------------------------------------------------
    def _get(
        self, path: str, params: Mapping[str, Any] | None = None, field: str | None = None
    ) -> Any:
        response = self.transport.request(
            "GET",
            f"{self.base_url}/1{path}",
            idempotent=True,
            headers=lambda: {"Authorization": self._authorization, "Accept": "application/json"},
            params=params,
        )
        if response.status_code >= 400:
            raise _error(path, response, field)
        try:
            return response.json()
        except ValueError:
            raise UnavailableError(
                f"GET {path}: Trello answered {response.status_code} without JSON",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            ) from None

    # --- DeliverySource ----------------------------------------------------------------------
    def check(self) -> None:
        """``GET /1/members/me``: the key and token work (one call of its 100 per 900 s)."""
        self._get("/members/me", {"fields": "username"})

    def project(self, key: str) -> DeliveryProject:
        body = self._get(f"/boards/{key}", {"fields": "name,closed,shortLink"}, field=key)
        return DeliveryProject(key=key, id=str(body["id"]), name=str(body["name"]))

    def vocabulary(self, project: DeliveryProject) -> Vocabulary:
        """The board's list names (statuses) and label names (types)."""
        lists = self._lists(project)
        labels = {str(row.get("name") or "") for row in self._labels(project)} - {""}
        return Vocabulary(
            statuses=frozenset(lists.values()),
            priorities=frozenset(self._priority_options(project).values()),
            types=frozenset(labels | {NO_LABEL}),
        )

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        """The board's milestone cards (archived ones too, marked)."""
        lists = self._lists(project)
        labels = self._label_names(project)
        completed = self._completion_days(project)
        for card in self._cards(project):
            if self._is_milestone(card, lists, labels):
                yield self._release(project, card, lists, completed)

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        lists = self._lists(project)
        labels = self._label_names(project)
        priorities = self._priority_options(project)
        actions = list(self._actions(project, CARD_ACTIONS, since=cursor))
        newest = actions[0]["id"] if actions else cursor
        if cursor is not None and not actions:
            yield WorkItemPage(items=(), cursor=newest)
            return
        touched = {str(a["data"].get("card", {}).get("id")) for a in actions}
        cards = [c for c in self._cards(project) if cursor is None or c["id"] in touched]
        cards = [c for c in cards if not self._is_milestone(c, lists, labels)]
        moves = _moves_by_card(actions) if cursor is None else {}
        items: list[WorkItem] = []
        for card in cards:
            history = moves.get(card["id"]) if cursor is None else self._card_moves(card["id"])
            items.append(self._work_item(project, card, lists, labels, priorities, history or []))
        items.sort(key=lambda item: item.updated)
        for start in range(0, max(len(items), 1), ITEMS_PAGE):
            last = start + ITEMS_PAGE >= len(items)
            yield WorkItemPage(
                items=tuple(items[start : start + ITEMS_PAGE]), cursor=newest if last else None
            )

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        lists = self._lists(project)
        labels = self._label_names(project)
        return {
            str(card["shortLink"])
            for card in self._cards(project)
            if not self._is_milestone(card, lists, labels)
        }

    # --- reading a board ---------------------------------------------------------------------
    def _lists(self, project: DeliveryProject) -> dict[str, str]:
        rows = self._get(f"/boards/{project.id}/lists", {"filter": "all", "fields": "name,closed"})
        return {str(row["id"]): str(row["name"]) for row in rows}

    def _labels(self, project: DeliveryProject) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._get(
            f"/boards/{project.id}/labels", {"fields": "name,color", "limit": 1000}
        )
        return rows

    def _label_names(self, project: DeliveryProject) -> dict[str, str]:
        return {str(row["id"]): str(row.get("name") or "") for row in self._labels(project)}

    def _cards(self, project: DeliveryProject) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._get(
            f"/boards/{project.id}/cards/all", {"fields": CARD_FIELDS, "customFieldItems": "true"}
        )
        return rows

    def _priority_options(self, project: DeliveryProject) -> dict[str, str]:
        """Option id -> text of the board's priority dropdown (Trello has no priorities of its
        own; teams add a "Priority" custom field). Empty when the board has none."""
        fields = self._get(f"/boards/{project.id}/customFields")
        for field in fields:
            if field.get("name") == self.priority_field and field.get("type") == "list":
                return {
                    str(o["id"]): str(o.get("value", {}).get("text", ""))
                    for o in field.get("options", [])
                }
        return {}

    def _actions(
        self, project: DeliveryProject, kinds: str, since: str | None
    ) -> Iterator[dict[str, Any]]:
        """The board's actions of ``kinds`` newer than ``since``, newest first, every page
        (Trello pages backwards: ``before`` the oldest action of the page read)."""
        before: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"filter": kinds, "limit": ACTIONS_PAGE}
            if since:
                params["since"] = since
            if before:
                params["before"] = before
            page = self._get(f"/boards/{project.id}/actions", params)
            for action in page:
                # ``since`` may or may not include the action it names (UNCONFIRMED).
                if action["id"] != since and action["id"] not in seen:
                    seen.add(action["id"])
                    yield action
            if len(page) < ACTIONS_PAGE:
                return
            before = page[-1]["id"]

    def _card_moves(self, card_id: str) -> list[StatusChange]:
        rows = self._get(
            f"/cards/{card_id}/actions", {"filter": "updateCard:idList", "limit": ACTIONS_PAGE}
        )
        return _moves_by_card(rows).get(card_id, [])

    def _completion_days(self, project: DeliveryProject) -> dict[str, date]:
        """card id -> the day its due date was last marked complete."""
        days: dict[str, date] = {}
        for action in self._actions(project, "updateCard", since=None):
            data = action.get("data", {})
            if data.get("old", {}).get("dueComplete") is False:
                card_id = str(data.get("card", {}).get("id"))
                moment = parse_trello_time(action["date"])
                if moment and card_id not in days:  # newest first: the last completion
                    days[card_id] = moment.date()
        return days

    def _is_milestone(
        self, card: dict[str, Any], lists: dict[str, str], labels: dict[str, str]
    ) -> bool:
        names = {labels.get(i, "") for i in card.get("idLabels", [])}
        return (
            bool(names & self.milestone_labels) or lists.get(card["idList"]) in self.milestone_lists
        )

    def _release(
        self,
        project: DeliveryProject,
        card: dict[str, Any],
        lists: dict[str, str],
        completed: dict[str, date],
    ) -> Release:
        due = parse_trello_time(card.get("due"))
        done = bool(card.get("dueComplete"))
        return Release(
            project_key=project.key,
            id=str(card["shortLink"]),
            name=str(card["name"]),
            due=due.date() if due else None,
            released=done,
            released_on=completed.get(card["id"]) if done else None,
            percent_complete=100.0 if done else None,
            stage=lists.get(card["idList"]),
            archived=bool(card.get("closed")),
        )

    def _work_item(
        self,
        project: DeliveryProject,
        card: dict[str, Any],
        lists: dict[str, str],
        labels: dict[str, str],
        priorities: dict[str, str],
        history: list[StatusChange],
    ) -> WorkItem:
        names = [labels[i] for i in card.get("idLabels", []) if labels.get(i)]
        chosen = [
            priorities[item["idValue"]]
            for item in card.get("customFieldItems") or []
            if item.get("idValue") in priorities
        ]
        created = created_from_id(card["id"])
        updated = parse_trello_time(card.get("dateLastActivity")) or created
        return WorkItem(
            project_key=project.key,
            id=str(card["id"]),
            key=str(card["shortLink"]),
            type=names[0] if names else NO_LABEL,
            status=lists.get(card["idList"], card["idList"]),
            # None without the dropdown: the mapping's tickets.no_priority then applies.
            priority=chosen[0] if chosen else None,
            created=created,
            updated=updated,
            history=tuple(
                StatusChange(
                    c.at,
                    lists.get(c.from_status or "", c.from_status),
                    lists.get(c.to_status, c.to_status),
                )
                for c in history
            ),
            fields={
                "name": card.get("name"),
                "labels": names,
                "due": card.get("due"),
                "dueComplete": card.get("dueComplete"),
                "start": card.get("start"),
                "closed": card.get("closed"),
            },
        )


def _moves_by_card(actions: list[dict[str, Any]]) -> dict[str, list[StatusChange]]:
    """card id -> its list changes, oldest first, as list ids (named by the caller, so a
    renamed list reads as it is named now)."""
    moves: dict[str, list[StatusChange]] = {}
    for action in reversed(actions):  # Trello sends newest first
        data = action.get("data", {})
        after = data.get("listAfter")
        if action.get("type") != "updateCard" or not after:
            continue
        moment = parse_trello_time(action.get("date"))
        if moment is None:
            continue
        before = data.get("listBefore") or {}
        moves.setdefault(str(data["card"]["id"]), []).append(
            StatusChange(at=moment, from_status=before.get("id"), to_status=str(after["id"]))
        )
    return moves


def _error(path: str, response: requests.Response, field: str | None) -> Exception:
    status = response.status_code
    text = response.text.strip()[:200]
    body = trim_body(response.content)
    if status == 401 and "invalid key" in text:
        return AuthenticationError(
            "Trello refused the API key (invalid key): check app_key",
            http_status=status,
            body_excerpt=body,
        )
    if status == 401 and (field is None or "invalid token" in text):
        return AuthenticationError(
            f"Trello refused the token ({text or 'unauthorized'}): create a new token for the API key",
            http_status=status,
            body_excerpt=body,
        )
    if status in (400, 401, 403, 404):
        what = {
            400: "is not a board id",
            401: "is not visible to this token",
            403: "is not visible to this token",
            404: "does not exist",
        }[status]
        return ConfigurationError(
            f"Trello board {field} {what}", field=field, http_status=status, body_excerpt=body
        )
    return RecordError(f"GET {path} failed: {text}", http_status=status, body_excerpt=body)
