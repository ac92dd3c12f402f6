"""The negotiation shortcut answers exactly as DRF's own algorithm, and takes the shortcut for the
Accept headers real clients send (the point of having it)."""

from __future__ import annotations

import pytest
from api.negotiation import ShortcutContentNegotiation
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

RENDERER_SETS = {
    "production": [JSONRenderer],
    "debug": [JSONRenderer, BrowsableAPIRenderer],
    "html first": [BrowsableAPIRenderer, JSONRenderer],
}
MEDIA_TYPES = [
    "*/*",
    "application/json",
    "text/html",
    "application/*",
    "application/json; indent=4",
    "*/*;q=0.8",
    "text/*;q=0.5",
    "application/xml",
    "",
    " application/json ",
]
ACCEPT_HEADERS = st.one_of(st.none(), st.lists(st.sampled_from(MEDIA_TYPES), min_size=1, max_size=3).map(", ".join))
QUERIES = st.sampled_from(["", "limit=5", "format=json", "format=api", "format=xml", "format=", "limit=5&format=json"])
SUFFIXES = st.sampled_from([None, "json", "api", "xml"])


def drf_request(accept: str | None, query: str = "") -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get("/api/users/" + (f"?{query}" if query else ""), **headers))


def outcome(negotiation, accept, query, suffix, renderer_set):
    renderers = [cls() for cls in RENDERER_SETS[renderer_set]]
    try:
        renderer, media_type = negotiation.select_renderer(drf_request(accept, query), renderers, suffix)
    except Exception as exc:  # noqa: BLE001  (the exception type is part of the answer compared)
        return type(exc).__name__
    return type(renderer).__name__, media_type


@settings(max_examples=400, database=None)
@given(accept=ACCEPT_HEADERS, query=QUERIES, suffix=SUFFIXES, renderer_set=st.sampled_from(sorted(RENDERER_SETS)))
def test_same_answer_as_drf(accept, query, suffix, renderer_set):
    assert outcome(ShortcutContentNegotiation(), accept, query, suffix, renderer_set) == outcome(
        DefaultContentNegotiation(), accept, query, suffix, renderer_set
    )


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
@pytest.mark.parametrize("query", ["", "limit=50&offset=100"])
def test_common_requests_skip_the_full_algorithm(monkeypatch, accept, query):
    def full_algorithm(*args, **kwargs):
        raise AssertionError("took DRF's full negotiation")

    monkeypatch.setattr(DefaultContentNegotiation, "select_renderer", full_algorithm)
    renderer, media_type = ShortcutContentNegotiation().select_renderer(drf_request(accept, query), [JSONRenderer()])
    assert (type(renderer), media_type) == (JSONRenderer, "application/json")


def test_the_api_uses_it():
    from rest_framework.views import APIView

    assert isinstance(APIView().get_content_negotiator(), ShortcutContentNegotiation)
