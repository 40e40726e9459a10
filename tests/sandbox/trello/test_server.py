"""The Trello sandbox over real HTTP: credentials, ids, lists and cards, actions, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connector.sandbox.trello import TrelloSandbox, seed_trello_boards
from tests.conftest import FakeClock


@pytest.fixture
def trello(clock: FakeClock) -> Iterator[TrelloSandbox]:
    sandbox = TrelloSandbox(clock=clock)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def get(sandbox: TrelloSandbox, path: str, **params: str) -> requests.Response:
    query = {"key": sandbox.key, "token": sandbox.token, **params}
    return requests.get(sandbox.url + path, params=query, timeout=5)


def test_wrong_key_and_wrong_token_are_refused_in_plain_text(trello: TrelloSandbox) -> None:
    board = seed_trello_boards(trello, trello.clock())["Brand refresh"]
    bad_key = get(trello, f"/1/boards/{board}", key="nope")
    bad_token = get(trello, f"/1/boards/{board}", token="nope")
    assert (bad_key.status_code, bad_key.text) == (401, "invalid key")
    assert (bad_token.status_code, bad_token.text) == (401, "invalid token")


def test_a_malformed_board_id_is_400_and_an_unknown_one_404(trello: TrelloSandbox) -> None:
    assert get(trello, "/1/boards/not-an-id").status_code == 400
    missing = get(trello, "/1/boards/" + "0" * 24)
    assert (missing.status_code, missing.text) == (404, "The requested resource was not found.")


def test_cards_carry_due_dates_lists_and_labels(trello: TrelloSandbox) -> None:
    now = trello.clock()
    board = seed_trello_boards(trello, now)["Brand refresh"]
    cards = get(trello, f"/1/boards/{board}/cards/all").json()
    concept = next(c for c in cards if c["name"] == "Concept boards")
    lists = {row["id"]: row["name"] for row in get(trello, f"/1/boards/{board}/lists").json()}
    # Seeded 40 days ago with a due date 14 days later, delivered (in "Done") and complete.
    assert concept["due"] == (now - timedelta(days=26)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert concept["dueComplete"] is True
    assert lists[concept["idList"]] == "Done"
    assert [label["name"] for label in concept["labels"]] == ["Milestone"]


def test_archived_cards_show_only_with_the_closed_or_all_filter(trello: TrelloSandbox) -> None:
    board = trello.add_board("B", ["Todo"])
    kept = trello.add_card(board, "Todo", "kept")
    archived = trello.add_card(board, "Todo", "archived")
    trello.update_card(archived, closed=True)
    assert [c["id"] for c in get(trello, f"/1/boards/{board}/cards").json()] == [kept]
    assert [c["id"] for c in get(trello, f"/1/boards/{board}/cards/closed").json()] == [archived]
    assert len(get(trello, f"/1/boards/{board}/cards/all").json()) == 2


def test_actions_come_newest_first_and_page_with_before(trello: TrelloSandbox) -> None:
    board = trello.add_board("B", ["Todo", "Done"])
    start = trello.clock()
    for n in range(5):
        trello.add_card(board, "Todo", f"card {n}", at=start + timedelta(minutes=n))
    first = get(trello, f"/1/boards/{board}/actions", limit="2").json()
    assert [a["data"]["card"]["name"] for a in first] == ["card 4", "card 3"]
    second = get(trello, f"/1/boards/{board}/actions", limit="2", before=first[-1]["id"]).json()
    assert [a["data"]["card"]["name"] for a in second] == ["card 2", "card 1"]


def test_since_a_date_leaves_out_the_action_at_that_instant_unless_told(clock: FakeClock) -> None:
    for inclusive, expected in ((False, ["later"]), (True, ["later", "at the mark"])):
        sandbox = TrelloSandbox(clock=clock, since_inclusive=inclusive)
        board = sandbox.add_board("B", ["Todo"])
        mark = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        sandbox.add_card(board, "Todo", "before", at=mark - timedelta(hours=1))
        sandbox.add_card(board, "Todo", "at the mark", at=mark)
        sandbox.add_card(board, "Todo", "later", at=mark + timedelta(hours=1))
        with sandbox:
            rows = get(sandbox, f"/1/boards/{board}/actions", since="2026-11-23T12:00:00.000Z")
        assert [a["data"]["card"]["name"] for a in rows.json()] == expected


def test_move_filter_returns_list_changes_with_before_and_after(trello: TrelloSandbox) -> None:
    board = trello.add_board("B", ["Todo", "Waiting for client"])
    card = trello.add_card(board, "Todo", "c")
    trello.move_card(card, "Waiting for client")
    trello.update_card(card, dueComplete=True)
    moves = get(trello, f"/1/cards/{card}/actions", filter="updateCard:idList").json()
    assert [(m["data"]["listBefore"]["name"], m["data"]["listAfter"]["name"]) for m in moves] == [
        ("Todo", "Waiting for client")
    ]


def test_a_deleted_card_leaves_a_delete_action(trello: TrelloSandbox) -> None:
    board = trello.add_board("B", ["Todo"])
    card = trello.add_card(board, "Todo", "gone")
    trello.delete_card(card)
    actions = get(trello, f"/1/boards/{board}/actions", filter="deleteCard").json()
    assert [a["data"]["card"]["id"] for a in actions] == [card]
    assert get(trello, f"/1/cards/{card}").status_code == 404


def test_the_101st_call_in_ten_seconds_is_refused_for_the_token(
    trello: TrelloSandbox, clock: FakeClock
) -> None:
    board = trello.add_board("B", ["Todo"])
    statuses = [get(trello, f"/1/boards/{board}").status_code for _ in range(101)]
    assert statuses.count(200) == 100
    refused = get(trello, f"/1/boards/{board}")
    assert refused.status_code == 429
    assert refused.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert "Retry-After" not in refused.headers
    clock.advance(seconds=10)
    assert get(trello, f"/1/boards/{board}").status_code == 200


def test_the_key_limit_is_300_per_ten_seconds_across_tokens(clock: FakeClock) -> None:
    sandbox = TrelloSandbox(clock=clock)
    board = sandbox.add_board("B", ["Todo"])
    with sandbox:
        statuses = []
        for n in range(300):
            # Four tokens of one key, 75 calls each: no token reaches its 100, the key its 300.
            sandbox.token = f"token-{n % 4}"
            statuses.append(get(sandbox, f"/1/boards/{board}").status_code)
        assert statuses == [200] * 300
        sandbox.token = "token-9"
        refused = get(sandbox, f"/1/boards/{board}")
    assert refused.status_code == 429
    assert refused.json()["error"] == "API_KEY_LIMIT_EXCEEDED"
