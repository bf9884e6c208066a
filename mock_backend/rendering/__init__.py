"""Render jobs: the lifecycle on the clock, the queue of encodes, the child process
that encodes, and the engine that turns a draft into an MP4 or MP3.
"""
