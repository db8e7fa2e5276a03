"""One module per capability area; each exposes ``register(app)``."""
