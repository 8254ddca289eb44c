"""The recommendation index: more-like-this from content and metadata, plus collaborative."""
