"""Talking to a served model: the OpenAI schema, kept-alive connections, server-sent events."""
