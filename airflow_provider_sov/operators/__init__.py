"""Operators: submit work and download results."""
