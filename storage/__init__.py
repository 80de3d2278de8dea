"""The bot's storage: typed SQLAlchemy 2 models, the async engine, and small repository functions."""
