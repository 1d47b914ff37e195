"""A live breaking-news ticker: a Redis event log, server-sent events, an RTL widget."""

# The one version: the build reads it (pyproject.toml, [tool.hatch.version]), and so do
# `ticker --version`, the OpenAPI document and the ticker_build_info metric.
__version__ = "0.2.0"
