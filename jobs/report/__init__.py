"""The portfolio report (`engage report`, `/report` in `engage serve`): ``data`` (the figures,
from the store's score history), ``charts`` (matplotlib, PNG), ``page`` (one self-contained
HTML file in the language asked), ``links`` (signed per-recipient links to `/report`)."""
