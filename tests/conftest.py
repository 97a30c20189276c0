"""Shared pytest configuration."""

# --- Service (app/, worker/) -----------------------------------------------------------------
# The HTTP/queue tests' fixtures (redis-server, worker and API processes) live in their own
# module; this line is the service side's only entry in this file.
pytest_plugins = ["tests.service_fixtures"]
