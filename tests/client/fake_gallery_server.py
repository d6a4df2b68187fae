"""``python -m tests.client.fake_gallery_server``: the service plus the gallery stand-in."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.settings import Settings
from tests.client import fake_gallery


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper())
    app = create_app(settings)
    app.include_router(fake_gallery.router)
    uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
