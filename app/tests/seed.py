"""Users in bulk for tests and `make bench`: one SQL statement (generate_series), not the ORM."""

from __future__ import annotations

import psycopg2


def seed_users(database_url: str, count: int, start: int = 1) -> None:
    """Adds users start..start+count-1 ("seed-N", "Seeded user N") in one INSERT, then VACUUM
    ANALYZE: the planner's statistics (the estimated counts of paged lists) and the visibility map
    are current, and autovacuum has nothing left to do in the middle of a measurement."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO api_user (dni, name) "
                "SELECT 'seed-' || g, 'Seeded user ' || g FROM generate_series(%s::bigint, %s::bigint) AS g",
                [start, start + count - 1],
            )
            cur.execute("VACUUM ANALYZE api_user")
    finally:
        conn.close()
