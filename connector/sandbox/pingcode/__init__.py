"""A local PingCode open API lookalike for the demo and tests. NOT a real PingCode."""

from connector.sandbox.pingcode.server import PingCodeState, SandboxPingCode

__all__ = ["PingCodeState", "SandboxPingCode"]
