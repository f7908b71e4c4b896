"""Check runners, one module per group of the catalog."""
