"""Tools for the model to call: from plain functions, pydantic classes or schemas (pure)."""
