"""The query API (FastAPI) over the published indexes."""
