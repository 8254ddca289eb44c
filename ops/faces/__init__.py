"""Faces and people: detection, alignment, descriptors, clustering and its evaluation."""
