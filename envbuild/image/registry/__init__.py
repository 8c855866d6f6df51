"""Registries (the Distribution API): references, credentials, pull and push."""
