"""Delivery facts pulled from the delivery tools (docs/delivery.md): config, pull, check."""
