"""The contract at run time: openapi.yaml loaded, requests validated against it, the
envelope and the limits it states.
"""
