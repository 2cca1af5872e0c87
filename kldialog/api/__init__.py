"""The read-only open-data API at /api/v1: public aggregates only, never personal data."""
