"""Reconciliation streams: files, rule sets, data sources, stream definitions and their runs."""
