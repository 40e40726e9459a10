"""A local imitation of Trello's REST API v1, over real HTTP, for demos and tests.

It follows research/fxiaoke_and_tools.md Part B and Trello's developer guide, not our client:

- credentials as ``?key=&token=`` query parameters, or the ``Authorization: OAuth
  oauth_consumer_key="…", oauth_token="…"`` header Trello also accepts (py-trello sends that
  one, OAuth 1 signed; the signature is not checked, as Trello does not need one for a token);
  a wrong key answers 401 ``invalid key``, a wrong token 401 ``invalid token`` (plain text);
- ``/1/boards/{id}`` (or its short link) with ``/lists``, ``/labels``, ``/customFields``,
  ``/cards[/{filter}]`` (``customFieldItems=true`` adds the cards' custom field values),
  ``/actions``;
  ``/1/cards/{id}`` with ``/actions``; ``/1/lists/{id}``; ``/1/members/me`` (with its own
  limit of 100 requests per 900 s). A malformed id answers 400
  ``invalid id``, an unknown one 404 ``The requested resource was not found.``;
- actions newest first, ``filter`` (types, or ``type:field`` such as ``updateCard:idList``),
  ``since``/``before`` (a date or an action id), ``limit`` (default 50, at most 1000), ``page``.
  Whether ``since`` includes an action AT that instant is not documented (UNCONFIRMED): the
  sandbox excludes it (``since_inclusive=False``) or includes it (``True``); clients must
  cope with both;
- rate limits: 100 requests per 10 s per token and 300 per 10 s per key; past them a 429 with
  ``{"error": "API_TOKEN_LIMIT_EXCEEDED" | "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit
  exceeded"}`` and no Retry-After (Trello documents none).

Time is injected (``clock``); the windows count on it. Ids are 24 hex digits whose first eight
are the creation time in seconds, as Trello's are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..delivery_http import (
    BoardSandbox,
    Call,
    Reply,
    Request,
    SlidingWindow,
    iso_z,
    make_json_handler,
)
from ..serving import QuietHandler

TRELLO_SANDBOX_BANNER = "SANDBOX TRELLO — a local imitation of Trello's REST API; not Trello"
TOKEN_LIMIT = 100
KEY_LIMIT = 300
WINDOW = timedelta(seconds=10)
MEMBERS_LIMIT = 100
MEMBERS_WINDOW = timedelta(seconds=900)
MAX_ACTIONS = 1000
_ID = re.compile(r"^[0-9a-f]{24}$")
_NOT_FOUND = "The requested resource was not found."


class TrelloSandbox(BoardSandbox):
    thread_name = "trello-sandbox"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        since_inclusive: bool = False,
        key: str = "sandbox-trello-key-0a1b2c",
        token: str = "sandbox-trello-token-3d4e5f",
    ) -> None:
        super().__init__(clock)
        self.since_inclusive = since_inclusive
        self.key = key
        self.token = token
        self.boards: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        #: Requests that would change something (the sandbox refuses them: clients only read).
        self.writes = 0
        #: Every action, oldest first.
        self.actions: list[dict[str, Any]] = []
        self.token_window = SlidingWindow(TOKEN_LIMIT, WINDOW, self._clock)
        self.key_window = SlidingWindow(KEY_LIMIT, WINDOW, self._clock)
        #: Trello's extra limit on ``/1/members/``: 100 requests per 900 s.
        self.members_window = SlidingWindow(MEMBERS_LIMIT, MEMBERS_WINDOW, self._clock)

    # --- what a test or a person does on the board -------------------------------------------
    def add_board(
        self,
        name: str,
        lists: list[str] | tuple[str, ...],
        labels: tuple[str, ...] = (),
        *,
        priorities: tuple[str, ...] = (),
        short_link: str | None = None,
    ) -> str:
        """A board with ``lists`` and ``labels``; ``priorities``: the options of a "Priority"
        dropdown custom field (Trello's Custom Fields), as teams add one."""
        with self._lock:
            board_id = self._new_id()
            short = short_link or board_id[-8:]
            self.boards[board_id] = {
                "id": board_id,
                "name": name,
                "desc": "",
                "closed": False,
                "shortLink": short,
                "url": f"https://trello.com/b/{short}",
                "shortUrl": f"https://trello.com/b/{short}",
                "idOrganization": None,
                "dateLastActivity": iso_z(self.clock()),
            }
            for pos, list_name in enumerate(lists):
                list_id = self._new_id()
                self.lists[list_id] = {
                    "id": list_id,
                    "name": list_name,
                    "closed": False,
                    "idBoard": board_id,
                    "pos": 16384 * (pos + 1),
                    "subscribed": False,
                }
            for color, label_name in zip(_COLORS, labels, strict=False):
                label_id = self._new_id()
                self.labels[label_id] = {
                    "id": label_id,
                    "idBoard": board_id,
                    "name": label_name,
                    "color": color,
                }
            if priorities:
                field_id = self._new_id()
                self.custom_fields[field_id] = {
                    "id": field_id,
                    "idModel": board_id,
                    "modelType": "board",
                    "fieldGroup": field_id,
                    "name": "Priority",
                    "pos": 16384,
                    "type": "list",
                    "display": {"cardFront": True},
                    "options": [
                        {
                            "id": self._new_id(),
                            "idCustomField": field_id,
                            "value": {"text": text},
                            "color": "none",
                            "pos": 16384 * (n + 1),
                        }
                        for n, text in enumerate(priorities)
                    ],
                }
            return board_id

    def set_priority(self, card_id: str, text: str | None) -> None:
        """Pick the card's "Priority" option (None: clear it), as a person does on the card."""
        with self._lock:
            card = self.cards[card_id]
            field = next(f for f in self.custom_fields.values() if f["idModel"] == card["idBoard"])
            card["customFieldItems"] = (
                [
                    {
                        "id": self._new_id(),
                        "idValue": next(
                            o["id"] for o in field["options"] if o["value"]["text"] == text
                        ),
                        "idCustomField": field["id"],
                        "idModel": card_id,
                        "modelType": "card",
                    }
                ]
                if text is not None
                else []
            )

    def list_id(self, board_id: str, name: str) -> str:
        return next(
            lid
            for lid, row in self.lists.items()
            if row["idBoard"] == board_id and row["name"] == name
        )

    def label_id(self, board_id: str, name: str) -> str:
        return next(
            lid
            for lid, row in self.labels.items()
            if row["idBoard"] == board_id and row["name"] == name
        )

    def add_card(
        self,
        board_id: str,
        list_name: str,
        name: str,
        *,
        due: datetime | None = None,
        start: datetime | None = None,
        labels: tuple[str, ...] = (),
        priority: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """A card created in ``list_name`` at ``at`` (default: now), with its createCard action."""
        with self._lock:
            moment = at or self.clock()
            card_id = self._new_id(moment)
            list_id = self.list_id(board_id, list_name)
            label_ids = [self.label_id(board_id, n) for n in labels]
            short = sum(1 for c in self.cards.values() if c["idBoard"] == board_id) + 1
            self.cards[card_id] = {
                "id": card_id,
                "name": name,
                "desc": "",
                "idBoard": board_id,
                "idList": list_id,
                "idLabels": label_ids,
                "closed": False,
                "due": iso_z(due) if due else None,
                "dueComplete": False,
                "start": iso_z(start) if start else None,
                "dateLastActivity": iso_z(moment),
                "idShort": short,
                "shortLink": card_id[-8:],
                "shortUrl": f"https://trello.com/c/{card_id[-8:]}",
                "url": f"https://trello.com/c/{card_id[-8:]}/{short}",
                "pos": 16384 * short,
                "idMembers": [],
                "idChecklists": [],
                "badges": {"checkItems": 0, "checkItemsChecked": 0, "comments": 0},
                "customFieldItems": [],
            }
            if priority is not None:
                self.set_priority(card_id, priority)
            self._act("createCard", card_id, moment, {"list": self._list_ref(list_id)})
            return card_id

    def move_card(self, card_id: str, list_name: str, at: datetime | None = None) -> None:
        with self._lock:
            moment = at or self.clock()
            card = self.cards[card_id]
            before, after = card["idList"], self.list_id(card["idBoard"], list_name)
            card["idList"] = after
            card["dateLastActivity"] = iso_z(moment)
            self._act(
                "updateCard",
                card_id,
                moment,
                {
                    "listBefore": self._list_ref(before),
                    "listAfter": self._list_ref(after),
                    "old": {"idList": before},
                },
            )

    def update_card(self, card_id: str, at: datetime | None = None, **fields: Any) -> None:
        """Change card fields (``dueComplete=True``, ``closed=True``, ``due=…``) with an action."""
        with self._lock:
            moment = at or self.clock()
            card = self.cards[card_id]
            old = {k: card[k] for k in fields}
            for name, value in fields.items():
                card[name] = iso_z(value) if isinstance(value, datetime) else value
            card["dateLastActivity"] = iso_z(moment)
            self._act("updateCard", card_id, moment, {"old": old})

    def delete_card(self, card_id: str, at: datetime | None = None) -> None:
        with self._lock:
            moment = at or self.clock()
            card = self.cards.pop(card_id)
            self._act(
                "deleteCard",
                card_id,
                moment,
                {"list": self._list_ref(card["idList"])},
                card={"id": card_id, "idShort": card["idShort"]},
                board_id=card["idBoard"],
            )

    def delete_list(self, board_id: str, name: str) -> None:
        """Trello archives lists; a test uses this to make a mapped list vanish."""
        with self._lock:
            del self.lists[self.list_id(board_id, name)]

    def api_calls(self, prefix: str = "/1/") -> int:
        return sum(1 for c in self.calls if c.path.startswith(prefix))

    # --- internals ---------------------------------------------------------------------------
    def _id_of(self, serial: int, at: datetime) -> str:
        return f"{int(at.timestamp()):08x}{serial:016x}"  # the creation time first, as Trello's

    def _list_ref(self, list_id: str) -> dict[str, Any]:
        row = self.lists.get(list_id)
        return {"id": list_id, "name": row["name"] if row else ""}

    def _act(
        self,
        kind: str,
        card_id: str,
        moment: datetime,
        data: dict[str, Any],
        *,
        card: dict[str, Any] | None = None,
        board_id: str | None = None,
    ) -> None:
        row = self.cards.get(card_id, {})
        board = self.boards[board_id or row["idBoard"]]
        ref = card or {
            "id": card_id,
            "name": row["name"],
            "idShort": row["idShort"],
            "shortLink": row["shortLink"],
            "idList": row["idList"],
        }
        self.actions.append(
            {
                "id": self._new_id(moment),
                "idMemberCreator": "5a0000000000000000000001",
                "type": kind,
                "date": iso_z(moment),
                "data": {"card": ref, "board": {"id": board["id"], "name": board["name"]}, **data},
            }
        )

    # --- serving -----------------------------------------------------------------------------
    def _handler(self) -> type[QuietHandler]:
        return make_json_handler(self.answer, server_version="SandboxTrello/1.0")

    def answer(self, request: Request) -> Reply:
        with self._lock:
            return self._answer(request)

    def _answer(self, request: Request) -> Reply:
        key, token = _credentials(request)
        self.calls.append(Call(self.clock(), request.method, request.path, token or ""))
        if request.path == "/":
            return Reply(200, TRELLO_SANDBOX_BANNER + "\n")
        if not request.path.startswith("/1/"):
            return Reply(404, "Cannot GET " + request.path)
        if key != self.key:
            return Reply(401, "invalid key")
        if token != self.token:
            return Reply(401, "invalid token")
        if self._throttle:  # refused as over the token's limit (Trello sends no Retry-After)
            self._throttle.pop(0)
            self.refused_429 += 1
            return Reply(
                429, {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            )
        if self.key_window.admit(key) is not None:
            self.refused_429 += 1
            return Reply(429, {"error": "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"})
        if self.token_window.admit(token) is not None:
            self.refused_429 += 1
            return Reply(
                429, {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            )
        if request.method != "GET":
            self.writes += 1
            return Reply(403, "the sandbox is read-only")  # our clients only read
        if request.path.startswith("/1/members/"):
            if self.members_window.admit(token) is not None:
                self.refused_429 += 1
                return Reply(
                    429,
                    {
                        "error": "RATE_LIMIT_EXCEEDED",
                        "message": "Exceeded rate limit to /1/members",
                    },
                )
            if request.path == "/1/members/me":
                return Reply(
                    200,
                    {
                        "id": "5a0000000000000000000001",
                        "username": "sandbox",
                        "fullName": "Sandbox Member",
                    },
                )
            return Reply(404, _NOT_FOUND)
        return self._route(request.path.split("/")[2:], request.query)

    def _route(self, parts: list[str], query: dict[str, str]) -> Reply:
        resource, ident, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
        if resource == "boards" and not _ID.match(ident):
            # Boards are also addressed by their short link (8 characters in Trello; any
            # length here, so tests can name a board "ACME").
            ident = next((b for b, row in self.boards.items() if row["shortLink"] == ident), ident)
        if not _ID.match(ident):
            return Reply(400, "invalid id")
        if resource == "boards":
            return self._board(ident, rest, query)
        if resource == "cards":
            card = self.cards.get(ident)
            if card is None:
                return Reply(404, _NOT_FOUND)
            if rest == ["actions"]:
                return Reply(200, self._actions(query, card_id=ident))
            return Reply(200, self._card_json(card, query))
        if resource == "lists" and ident in self.lists and not rest:
            return Reply(200, self.lists[ident])
        return Reply(404, _NOT_FOUND)

    def _board(self, board_id: str, rest: list[str], query: dict[str, str]) -> Reply:
        board = self.boards.get(board_id)
        if board is None:
            return Reply(404, _NOT_FOUND)
        if not rest:
            return Reply(200, _select(board, query.get("fields")))
        if rest == ["lists"]:
            wanted = query.get("filter", "open")
            rows = [r for r in self.lists.values() if r["idBoard"] == board_id]
            return Reply(200, [r for r in rows if _filter_closed(r, wanted)])
        if rest == ["customFields"]:
            return Reply(200, [f for f in self.custom_fields.values() if f["idModel"] == board_id])
        if rest == ["labels"]:
            limit = min(int(query.get("limit", 50) or 50), 1000)
            return Reply(200, [r for r in self.labels.values() if r["idBoard"] == board_id][:limit])
        if rest[0] == "cards":
            if len(rest) == 2 and _ID.match(rest[1]):
                card = self.cards.get(rest[1])
                if card is None or card["idBoard"] != board_id:
                    return Reply(404, _NOT_FOUND)
                return Reply(200, self._card_json(card, query))
            wanted = rest[1] if len(rest) == 2 else query.get("filter", "visible")
            rows = [c for c in self.cards.values() if c["idBoard"] == board_id]
            return Reply(
                200, [self._card_json(c, query) for c in rows if _filter_closed(c, wanted)]
            )
        if rest == ["actions"]:
            return Reply(200, self._actions(query, board_id=board_id))
        return Reply(404, _NOT_FOUND)

    def _card_json(self, card: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        full = dict(card, labels=[self.labels[i] for i in card["idLabels"] if i in self.labels])
        items = full.pop("customFieldItems")
        chosen = _select(full, query.get("fields"))
        if query.get("customFieldItems") == "true":
            chosen["customFieldItems"] = items  # only when asked, as Trello does
        return chosen

    def _actions(
        self, query: dict[str, str], *, board_id: str | None = None, card_id: str | None = None
    ) -> list[dict[str, Any]]:
        kinds = [k for k in query.get("filter", "all").split(",") if k]
        limit = max(0, min(int(query.get("limit", 50) or 50), MAX_ACTIONS))
        page = int(query.get("page", 0) or 0)
        rows = [
            a
            for a in sorted(self.actions, key=lambda a: str(a["id"]), reverse=True)
            if (board_id is None or a["data"]["board"]["id"] == board_id)
            and (card_id is None or a["data"]["card"]["id"] == card_id)
            and _kind_wanted(a, kinds)
            and self._after_since(a, query.get("since"))
            and _before(a, query.get("before"))
        ]
        return rows[page * limit : page * limit + limit]

    def _after_since(self, action: dict[str, Any], since: str | None) -> bool:
        if not since or since == "null":
            return True
        if _ID.match(since):
            ident: str = action["id"]
            return ident >= since if self.since_inclusive else ident > since
        moment, mark = _parse(action["date"]), _parse(since)
        return moment >= mark if self.since_inclusive else moment > mark


_COLORS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black")


def _credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("oauth "):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', header))
        return pairs.get("oauth_consumer_key"), pairs.get("oauth_token")
    return request.query.get("key"), request.query.get("token")


def _select(row: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields or fields == "all":
        return dict(row)
    names = {"id", *fields.split(",")}
    return {k: v for k, v in row.items() if k in names}


def _filter_closed(row: dict[str, Any], wanted: str) -> bool:
    if wanted in ("all",):
        return True
    if wanted == "closed":
        return bool(row["closed"])
    if wanted == "none":
        return False
    return not row["closed"]  # open, visible


def _kind_wanted(action: dict[str, Any], kinds: list[str]) -> bool:
    if not kinds or "all" in kinds:
        return True
    for kind in kinds:
        name, _, changed = kind.partition(":")
        if action["type"] != name:
            continue
        if not changed or changed in action["data"].get("old", {}):
            return True
    return False


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _before(action: dict[str, Any], before: str | None) -> bool:
    if not before or before == "null":
        return True
    if _ID.match(before):
        return bool(action["id"] < before)
    return _parse(action["date"]) < _parse(before)
