"""Triggers: async polling for deferrable waits, nothing else."""
