"""What an operator reads from a running daemon: ``/healthz`` and ``/metrics`` (issue 20)."""
