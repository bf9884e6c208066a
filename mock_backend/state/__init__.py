"""What the mock remembers and what it runs on: the store (users, tokens, sessions,
uploads, renders), accounts and credits, the one clock and the one seeded randomness.
"""
