"""Reference server for the Dify Service API contract."""
