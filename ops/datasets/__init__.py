"""Versioned datasets: the DVC data registry of catalog snapshots and labelled datasets."""
