"""`engage worker`: connections run by any number of workers on procrastinate, over the
cluster's PostgreSQL (docs/scaling.md)."""
