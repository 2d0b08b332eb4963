"""The web edges: one blueprint per channel, plus health checks."""
