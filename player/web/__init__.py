"""The web client: a single page with plain JS modules, served by the server at ``/`` (player/server/http.py)."""
