"""The web layer: blueprints that talk to the repository and the engine, never to
pymongo or requests directly."""
