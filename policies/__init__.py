"""Lint rules: one module per family, catalogs as data."""
