"""Synthetic people with exact DensePose ground truth (demo data, test data, the accuracy study)."""
