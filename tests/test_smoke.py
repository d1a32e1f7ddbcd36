from __future__ import annotations

import urllib.request

from flask.testing import FlaskClient

from .server import ServerProcess


def test_app_serves_every_overall_feed(client: FlaskClient) -> None:
    for path in ("/feed.xml", "/atom.xml", "/feed.json"):
        assert client.get(path).status_code == 200


def test_real_server_answers(server: ServerProcess) -> None:
    with urllib.request.urlopen(server.url("/feed.xml")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
