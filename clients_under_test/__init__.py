"""Clients the compatibility suite verifies: the reference client and broken variants."""
