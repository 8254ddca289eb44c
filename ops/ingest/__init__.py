"""Catalog ingestion: sources, crawling, the raw media store and probing."""
