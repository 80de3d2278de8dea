"""scenetag-web: the dashboard for operators and group admins (FastAPI, server-rendered, Telegram login)."""
