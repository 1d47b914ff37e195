"""The HTTP routes, one module per audience: api (items, channels), stream (SSE), ops."""
