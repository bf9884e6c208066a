"""Real media: the kinds of file the backend takes, receiving uploads, measuring files
(PyAV, Pillow) and the deterministic samples tests use.
"""
