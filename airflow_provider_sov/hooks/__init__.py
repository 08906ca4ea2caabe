"""Hooks: all I/O with the SOV Fixer and DATA Act Broker APIs."""
