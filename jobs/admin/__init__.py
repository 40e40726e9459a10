"""Admin tools: check a mapping against the CRM, create its fields, write a starter."""
