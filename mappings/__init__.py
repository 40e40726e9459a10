"""Declarative mappings between CRM records and the engagement domain, and the domain itself.

No CRM field name lives in Python code: the TOML files in this folder name them.
"""

from __future__ import annotations
