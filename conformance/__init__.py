"""Conformance suite for servers that implement the Dify Service API."""
