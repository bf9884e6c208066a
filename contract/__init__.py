"""The compatibility suite: provider conformance and client verification."""
