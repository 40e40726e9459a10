"""Pull: read the CRM into the store (incremental and full sync, activities, deletions)."""
