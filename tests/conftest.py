"""Shared fixtures live in tests/support_<area>.py; list them here so every test sees them."""

pytest_plugins: list[str] = []
