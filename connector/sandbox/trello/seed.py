"""Demo boards for the Trello sandbox: a design studio's boards, one per engagement.

Each board has the lists a studio uses (the mapping names them) and two labels: "Milestone"
cards are deliverables with a due date, "Request" cards are the client's tickets. One request
waits on the client for a while, one milestone was delivered late and one is overdue, so the
demo's drivers have something to say.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .server import TrelloSandbox

DEMO_LISTS = ("Backlog", "Doing", "Waiting for client", "Review", "Done")
DEMO_LABELS = ("Milestone", "Request", "Change request")


def seed_trello_boards(
    sandbox: TrelloSandbox, now: datetime, names: tuple[str, ...] = ("Brand refresh",)
) -> dict[str, str]:
    """Boards named ``names``, each with a few milestones and requests; name -> board id."""
    boards: dict[str, str] = {}
    day = timedelta(days=1)
    for name in names:
        board = sandbox.add_board(name, DEMO_LISTS, DEMO_LABELS)
        boards[name] = board
        start = now - 40 * day
        concept = sandbox.add_card(
            board,
            "Backlog",
            "Concept boards",
            due=start + 14 * day,
            labels=("Milestone",),
            at=start,
        )
        sandbox.move_card(concept, "Doing", at=start + 2 * day)
        sandbox.move_card(concept, "Done", at=start + 23 * day)  # 9 days after its due date
        sandbox.update_card(concept, at=start + 23 * day, dueComplete=True)
        sandbox.add_card(
            board, "Backlog", "Final artwork", due=now + 10 * day, labels=("Milestone",), at=start
        )
        logo = sandbox.add_card(
            board,
            "Backlog",
            "Logo colours wrong on dark mode",
            labels=("Request",),
            at=now - 9 * day,
        )
        sandbox.move_card(logo, "Doing", at=now - 8 * day)
        sandbox.move_card(logo, "Waiting for client", at=now - 7 * day)
        sandbox.move_card(logo, "Doing", at=now - 4 * day)
        sandbox.move_card(logo, "Done", at=now - 2 * day)
        sandbox.add_card(board, "Backlog", "New icon set", labels=("Request",), at=now - day)
        sandbox.add_card(
            board,
            "Review",
            "Print-ready files",
            due=now - 12 * day,
            labels=("Milestone",),
            at=start,
        )  # overdue: still in review, 12 days after its due date
    return boards


def add_many_cards(sandbox: TrelloSandbox, board_id: str, count: int, at: datetime) -> list[str]:
    """``count`` plain request cards in "Backlog", for paging and volume tests."""
    return [
        sandbox.add_card(board_id, "Backlog", f"Request {n}", labels=("Request",), at=at)
        for n in range(count)
    ]
