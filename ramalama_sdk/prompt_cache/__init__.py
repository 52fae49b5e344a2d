"""Prompts that survive restarts: llama-server's saved slots, keyed, checked, bounded."""
