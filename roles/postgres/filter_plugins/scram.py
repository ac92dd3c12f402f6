"""postgres_scram_verifier: a PostgreSQL SCRAM-SHA-256 password verifier, computed on the control node.

`ALTER ROLE ... PASSWORD '<verifier>'` stores it as is, so the cleartext password never reaches the
server (its logs, pg_stat_statements) — what psql's \\password does interactively. The format and
the derivation are PostgreSQL's (src/common/scram-common.c, RFC 5802 and RFC 7677):
SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, each part base64.

PostgreSQL SASLprep-normalises a password first; for printable ASCII that is the identity, which
is why the role accepts only printable ASCII passwords (tasks/validate.yml).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def postgres_scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    def filters(self):
        return {"postgres_scram_verifier": postgres_scram_verifier}
