"""Servers the provider check must fail: the mock, each broken in one documented promise.

`clients_under_test` holds clients the compatibility suite must catch; this package holds the
servers `nemo-contract provider` must catch (`mutants.MUTANTS`), each derived from the mock by
one change, with the check that must fail on it and the words its failure must contain.
"""
