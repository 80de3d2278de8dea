"""python-telegram-bot's callbacks, one module per kind of update; only `bot.app` imports them (to register
them) and none imports another: what they share lives in `bot` (tests/test_architecture.py)."""
