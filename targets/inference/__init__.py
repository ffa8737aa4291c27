"""OpenAI-compatible inference service."""
