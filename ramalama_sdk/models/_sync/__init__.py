# Generated from ramalama_sdk/models/_async/__init__.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""The model, router, conversation and stream shells: the async ones are the source."""
