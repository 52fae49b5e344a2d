"""What a served model answers beyond chat: embeddings, tokens, text completion, its details."""
