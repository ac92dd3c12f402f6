"""Optional write protection: with APP_WRITE_TOKEN set, creating a user needs
`Authorization: Bearer <token>`; reading stays open to everyone, as in the original API.

The users view installs these two classes only while the token is set (api/views.py), so without
it the API is exactly the original contract and a request pays nothing for the feature.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

SCHEME = b"bearer"


class WriteToken:
    """What a request that presented the right token is authenticated as."""

    is_authenticated = True


class WriteTokenAuthentication(BaseAuthentication):
    """Checks the token on writes. Reads are open whatever they send: a stray Authorization
    header (a proxy's, another API's) must not break them."""

    def authenticate(self, request: Request) -> tuple[WriteToken, None] | None:
        if request.method in permissions.SAFE_METHODS:
            return None
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if len(parts) != 2 or parts[0].lower() != SCHEME:
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <token>'.")
        if not hmac.compare_digest(parts[1], settings.WRITE_TOKEN.encode()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return WriteToken(), None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 with WWW-Authenticate (RFC 6750) instead of 403.
        return 'Bearer realm="api"'


class WritesNeedToken(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        if request.method in permissions.SAFE_METHODS or request.user is not None:
            return True
        # A 401 (with WWW-Authenticate, from the authentication class) rather than DRF's generic
        # wording: the client learns what to send.
        raise exceptions.NotAuthenticated("Creating users needs the header 'Authorization: Bearer <token>'.")
