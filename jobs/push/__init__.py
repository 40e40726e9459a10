"""Push: plan what the CRM should hold, write it in batches, journal every write."""
