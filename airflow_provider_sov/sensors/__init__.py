"""Sensors: wait for jobs in poke, reschedule or deferrable mode."""
