"""The HTTP API for integrations: `router` (prefix `/v1`), which the web app includes.

`POST /v1/classify` and `POST /v1/check` send the photo through the bot's queue and job contract to the
worker; API keys (`web.api.keys`, `scenetag-api-keys`) are stored hashed, each with a rate limit in Redis.
The app must set `redis`, `sessionmaker` and `api_settings` on `app.state` (`web.api.state`).
"""

from web.api.routes import router

__all__ = ["router"]
