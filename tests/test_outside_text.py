"""Text from outside, cleaned where it would become a weapon (jobs/outside_text.py)."""

from __future__ import annotations

import pytest

from jobs.outside_text import for_terminal, one_line


@pytest.mark.parametrize(
    ("given", "header"),
    [
        ("Doe\r\nBcc: x@y", "Doe Bcc: x@y"),
        ("Doe\nTo: x@y", "Doe To: x@y"),
        ("Jo\x00hn", "John"),  # NUL removed, not a space
        ("a\u2028b\u2029c\x85d", "a b c d"),  # Unicode line and paragraph separators, NEL
        ("  tabs\tand   runs  ", "tabs and runs"),
        ("\x1b[31mred", "[31mred"),  # ESC goes; the rest is harmless text in a header
        ("张伟", "张伟"),
        (None, ""),
    ],
)
def test_one_line_leaves_no_line_break_or_control(given: str | None, header: str) -> None:
    assert one_line(given) == header


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("\x1b[2J\x1b[HGreat", "Great"),  # clear screen, cursor home
        ("\x1b]0;pwned\x07title", "title"),  # window title (OSC, BEL)
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # hyperlink (OSC, ST)
        ("ok\rFAKE", "okFAKE"),  # carriage return overwriting the line
        ("a\u202eevil", "aevil"),  # right-to-left override
        ("\x9b31mred", "red"),  # 8-bit CSI
        ("two\nlines\tand tab", "two\nlines\tand tab"),
        ("好的", "好的"),
    ],
)
def test_for_terminal_strips_escape_sequences_and_controls(given: str, shown: str) -> None:
    assert for_terminal(given) == shown
