"""One JSON line per request, with a request id that is echoed to the client.

The stdout side is proven end to end by test_gunicorn.py; here the records and the formatter.
"""

from __future__ import annotations

import json
import logging

import pytest
from demo.logging import JsonFormatter


def access_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "demo.access"]


@pytest.mark.django_db
def test_each_request_logs_one_line_with_the_fields(client, caplog):
    caplog.set_level(logging.INFO, logger="demo.access")
    response = client.get("/api/users/?limit=5")
    (record,) = access_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET"
    assert line["path"] == "/api/users/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == response["X-Request-ID"]
    assert len(line["request_id"]) == 32
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")


def test_a_valid_incoming_request_id_is_kept(client, caplog):
    caplog.set_level(logging.INFO, logger="demo.access")
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-abc.123")
    assert response["X-Request-ID"] == "lb-abc.123"
    assert access_records(caplog)[0].request_id == "lb-abc.123"


def test_a_forged_request_id_is_replaced(client, caplog):
    caplog.set_level(logging.INFO, logger="demo.access")
    response = client.get("/healthz", HTTP_X_REQUEST_ID='x" injected\nline')
    assert response["X-Request-ID"] != 'x" injected\nline'
    assert len(access_records(caplog)[0].request_id) == 32


def test_formatter_keeps_exceptions_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, exc_info=__import__("sys").exc_info()
        )
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]
