"""Shared fixtures for every test module: the real Redis and worker services of `tests/services.py`."""

pytest_plugins = ["tests.services"]
