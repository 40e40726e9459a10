"""py-trello, Trello's most used Python library, drives the Trello sandbox over real HTTP.

py-trello builds ``https://api.trello.com/1/…`` URLs itself; its ``http_service`` hook (the
module or session it sends through) is given a session that sends them to the sandbox
instead, and nothing else is changed. Both of its ways of authenticating are used: the
OAuth 1 header (``TrelloClient(api_key, token=…)``) and the query parameters
(``TrelloClient(api_key, api_secret=<token>)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable, Unauthorized

from connector.sandbox.trello import TrelloSandbox, seed_trello_boards
from tests.conftest import FakeClock


class ToSandbox:
    """What py-trello calls ``http_service``: ``request(method, url, **kw)``, redirected."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, url.replace("https://api.trello.com", self.base_url), timeout=5, **kwargs
        )


@pytest.fixture
def trello(clock: FakeClock) -> Iterator[TrelloSandbox]:
    sandbox = TrelloSandbox(clock=clock)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def clients(sandbox: TrelloSandbox) -> list[TrelloClient]:
    return [
        TrelloClient(api_key=sandbox.key, token=sandbox.token, http_service=ToSandbox(sandbox.url)),
        TrelloClient(
            api_key=sandbox.key, api_secret=sandbox.token, http_service=ToSandbox(sandbox.url)
        ),
    ]


def test_py_trello_reads_boards_lists_labels_and_cards(trello: TrelloSandbox) -> None:
    board_id = seed_trello_boards(trello, trello.clock())["Brand refresh"]
    for client in clients(trello):
        board = client.get_board(board_id)
        assert board.name == "Brand refresh"
        assert [row.name for row in board.list_lists()] == [
            "Backlog",
            "Doing",
            "Waiting for client",
            "Review",
            "Done",
        ]
        assert [label.name for label in board.get_labels()] == [
            "Milestone",
            "Request",
            "Change request",
        ]
        cards = {card.name: card for card in board.all_cards()}
        assert cards["Concept boards"].is_due_complete is True
        assert cards["Final artwork"].is_due_complete is False
        assert [label.name for label in cards["Concept boards"].labels] == ["Milestone"]


def test_py_trello_reads_a_cards_moves_between_lists(trello: TrelloSandbox) -> None:
    now = trello.clock()
    board_id = seed_trello_boards(trello, now)["Brand refresh"]
    client = clients(trello)[0]
    card = next(c for c in client.get_board(board_id).all_cards() if c.name.startswith("Logo"))
    moves = card.list_movements()
    # Seeded: Backlog→Doing 8 days ago, →Waiting 7, →Doing 4, →Done 2; newest first.
    assert [(m["source"]["name"], m["destination"]["name"]) for m in moves] == [
        ("Doing", "Done"),
        ("Waiting for client", "Doing"),
        ("Doing", "Waiting for client"),
        ("Backlog", "Doing"),
    ]
    waited = moves[1]["datetime"] - moves[2]["datetime"]
    assert waited == timedelta(days=3)


def test_py_trello_sees_the_sandboxs_refusals_as_trellos(trello: TrelloSandbox) -> None:
    board_id = seed_trello_boards(trello, trello.clock())["Brand refresh"]
    wrong = TrelloClient(api_key=trello.key, token="wrong", http_service=ToSandbox(trello.url))
    with pytest.raises(Unauthorized, match="invalid token"):
        wrong.get_board(board_id)
    with pytest.raises(ResourceUnavailable, match="not found"):
        clients(trello)[0].get_board("0" * 24)


def test_py_trello_board_actions_since_a_date(trello: TrelloSandbox) -> None:
    now = trello.clock()
    board_id = seed_trello_boards(trello, now)["Brand refresh"]
    board = clients(trello)[1].get_board(board_id)
    since = (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    actions = board.fetch_actions("updateCard:idList", since=since)
    # Only the logo request's move to "Done" (2 days ago) is newer than 3 days.
    assert [(a["data"]["card"]["name"], a["data"]["listAfter"]["name"]) for a in actions] == [
        ("Logo colours wrong on dark mode", "Done")
    ]


def test_py_trello_reads_the_priority_dropdown_as_trello_shapes_it(trello: TrelloSandbox) -> None:
    board_id = trello.add_board(
        "B", ["Todo"], ("Request",), priorities=("Highest", "High", "Medium", "Low")
    )
    trello.add_card(board_id, "Todo", "urgent one", labels=("Request",), priority="Highest")
    trello.add_card(board_id, "Todo", "no priority", labels=("Request",))
    board = clients(trello)[0].get_board(board_id)

    (definition,) = board.get_custom_field_definitions()
    cards = {card.name: card for card in board.all_cards()}  # asks customFieldItems=true

    assert (definition.name, definition.field_type) == ("Priority", "list")
    assert sorted(definition.list_options.values()) == ["High", "Highest", "Low", "Medium"]
    assert [(f.name, f.value) for f in cards["urgent one"].custom_fields] == [
        ("Priority", "Highest")
    ]
    assert cards["no priority"].custom_fields == []
