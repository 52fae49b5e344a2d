"""The model, router, conversation and stream shells: the async ones are the source."""
