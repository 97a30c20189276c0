"""ASGI middleware: API keys and rate limits, request body limits."""
