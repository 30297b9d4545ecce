"""Monitoring: what the served model saw and said (the prediction log)."""
