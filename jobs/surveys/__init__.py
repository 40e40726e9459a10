"""Satisfaction surveys: plan invitations, send them once, serve the response page, score results.

Pure (no I/O): ``config`` (the ``[surveys]`` section), ``triggers`` (which waves are due),
``recipients`` (who may be asked), ``fatigue`` (who must not be asked now), ``planner`` (the
three together), ``records`` (rows as values), ``results`` (NPS/CSAT per engagement),
``tokens`` (signed links), ``i18n`` (the words, in English and Chinese).

With I/O (the survey tables are jobs/store/surveys.py's): ``steps`` (plan and send from the store), ``outbox``
(send each invitation at most once), ``mail`` (templates and SMTP), ``crm_channel`` (link on
the Contact, Task for the owner), ``web`` (the response page), ``feed`` (results for scoring),
``followups`` (one CRM task per unhappy answer). See docs/surveys.md.
"""
