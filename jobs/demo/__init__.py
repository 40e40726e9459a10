"""`engage demo`: the whole path against a sandbox CRM and an SQLite file."""
