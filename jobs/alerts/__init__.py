"""Alerts: an engagement's turn (SLA breached, risk up, a low answer...) sent once to Slack,
Microsoft Teams or e-mail, in the reader's language; and a weekly digest per person.

`config.py` (the ``[alerts]`` section), `events.py` (what holds now, pure), `planner.py`
(episodes, cool-down, the outbox rows), `outbox.py` (sending at most once), `render.py` and
`messages.py` (every sentence: the catalogs' ``alert.*``), the channels `slack.py`, `teams.py`, `email.py`,
`digest.py`, and `steps.py` (what `run_job` and `engage alerts` call).
"""
