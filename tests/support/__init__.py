"""Test helpers: a real server subprocess, a throwaway PostgreSQL cluster."""
