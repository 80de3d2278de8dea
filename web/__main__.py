"""`scenetag-web`: serve the dashboard with uvicorn.

Usage: BOT_TOKEN=123:abc WEB_SESSION_SECRET=... scenetag-web   (every variable: web/settings.py and README)
"""

from __future__ import annotations

import logging

import uvicorn

from web.app import build_app
from web.settings import WebSettings


def main() -> None:
    settings = WebSettings.from_env()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Bot API call otherwise
    # proxy_headers: behind a TLS proxy the client's scheme and address come from X-Forwarded-*.
    # access_log off: uvicorn's writes each query string (a login link's signed fields); web.app logs paths.
    uvicorn.run(
        build_app(settings),
        host=settings.web_listen,
        port=settings.web_port,
        proxy_headers=True,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
