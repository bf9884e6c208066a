"""The control plane: the `/__mock/` API, rules and named scenarios and what they do
when they fire, the journal, and keeping tokens out of it.
"""
