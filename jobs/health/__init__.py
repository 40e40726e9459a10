"""Health: pure computations over domain objects (risk, engagement score, SLA). No I/O."""
