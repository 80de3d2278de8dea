"""Settings of the HTTP API: a pydantic-settings mixin among the bases of `web.settings.WebSettings`."""

from __future__ import annotations

from pydantic import Field

from config import MAX_PHOTO_BYTES, EnvSettings

# Room in a request body for the multipart framing and the form's text fields around the image.
FORM_OVERHEAD_BYTES = 64 * 1024


class ApiSettings(EnvSettings):
    """Limits of `/v1/classify` and `/v1/check`; every variable starts with API_."""

    # Requests per API key per minute, for keys created without their own --per-minute.
    api_rate_limit_per_minute: int = Field(default=60, ge=1)
    # How long a request waits for the worker before answering 504 (the job is then dropped). Below the
    # 60 s that reverse proxies commonly allow an upstream, so the client gets our error, not the proxy's.
    api_request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Largest image accepted, in bytes.
    api_max_upload_bytes: int = Field(default=MAX_PHOTO_BYTES, ge=1)

    @property
    def api_max_body_bytes(self) -> int:
        """The largest request body of the API (`web.limits.BodyLimit` counts it as it streams)."""
        return self.api_max_upload_bytes + FORM_OVERHEAD_BYTES
