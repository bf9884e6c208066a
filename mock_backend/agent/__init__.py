"""The emulated agent: reading a chat message, planning a run, its replies and draft
edits, and playing the run as Server-Sent Events on the clock.
"""
