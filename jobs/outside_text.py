"""Text from outside (a CRM, a file, a mail server, a respondent) made safe for where it goes.

Stored as given; cleaned only at the point where it would become a weapon:

- ``one_line``: for a mail header (a name in To, an engagement name in the Subject). Line
  breaks (CR, LF, VT, FF, NEL, the Unicode line and paragraph separators) and tabs become a
  space; every other control character (NUL, the rest of C0 and C1, DEL) is removed; runs of
  spaces collapse; the ends are trimmed. A header value then cannot end the header and start
  another (``"\\r\\nBcc: x@y"`` stays inside the name as " Bcc: x@y"), and no mail library
  refuses it.
- ``for_terminal``: for text printed to an operator's terminal. Escape sequences (CSI, OSC and
  the two-character ones) are removed whole, then every other control character except a newline
  and a tab, and the bidirectional overrides that make a line read differently from its bytes.
"""

from __future__ import annotations

import re

_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]")
_OTHER_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SPACES = re.compile(r" {2,}")

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clearing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # two-character sequences (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the 8-bit CSI
)
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str | None) -> str:
    """The text on one line: line breaks and tabs become spaces, other controls go."""
    if not text:
        return ""
    return _SPACES.sub(" ", _BREAKS.sub(" ", _OTHER_CONTROLS.sub("", text))).strip()


def for_terminal(text: object) -> str:
    """The text without escape sequences or control characters (newlines and tabs stay)."""
    value = str(text).replace("\r\n", "\n")
    return _TERMINAL_CONTROLS.sub("", _ESCAPE_SEQUENCE.sub("", value))
