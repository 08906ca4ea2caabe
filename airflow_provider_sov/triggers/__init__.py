"""Triggers: async polling for deferrable waits, nothing else (each job kind names the class that polls it)."""
