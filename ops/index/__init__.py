"""The search index: documents, full-text and facet backends, vectors, versions."""
