"""k3s-pg-backup end to end: real pg_dump and pg_restore, an S3 bucket on the moto server, a folder.

The dump streams from the database "pod" (a real server behind the kubectl test double) into the
bucket and back into a fresh server; row counts must match and the checksum must hold; a damaged
object must be refused before anything is restored.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PROGRAM, Pod, start_pod

BUCKET = "k3s-backups-test"
TABLES = {"public.api_user": 250, "public.notes": 40}


SEED = """
SET ROLE demo;
CREATE TABLE api_user (id bigserial PRIMARY KEY, dni varchar(13) UNIQUE NOT NULL, name varchar(30) NOT NULL);
INSERT INTO api_user (dni, name) SELECT 'd' || g, E'name\\twith\\ntabs ' || g FROM generate_series(1, :users) g;
CREATE TABLE "notes" (id serial PRIMARY KEY, body text, blob bytea);
INSERT INTO notes (body) SELECT repeat('x', g) FROM generate_series(1, 40) g;
UPDATE notes SET blob = (
    SELECT string_agg(decode(md5(random()::text || s), 'hex'), ''::bytea) FROM generate_series(1, :chunks) s
) WHERE :chunks > 0;
"""
COUNTS = "SELECT (SELECT count(*) FROM api_user), (SELECT count(*) FROM notes)"


def seed(pod: Pod, users: int = TABLES["public.api_user"], payload_mib: int = 0) -> None:
    """Tables as migrations leave them (owned by the owner role), with rows: text with tabs and
    newlines, and `payload_mib` of random bytes (no compression shrinks them: the dump is that big)."""
    pod.psql(SEED, users=users, chunks=payload_mib * 1024 * 1024 // 16 // 40)


def counts(pod: Pod) -> dict[str, int]:
    users, notes = pod.psql(COUNTS).split("|")
    return {"public.api_user": int(users), "public.notes": int(notes)}


def configure(pod: Pod, tmp: Path, destination: str, **extra: Any) -> Path:
    config = {
        "destination": destination,
        "kubectl": pod.kubectl,
        "namespace": "demo",
        "pod": "postgres-0",
        "container": "postgres",
        "database": "demo",
        "superuser": "postgres",
        "owner_role": "demo",
        "keep": 3,
        **extra,
    }
    path = tmp / f"config-{abs(hash(json.dumps(config, sort_keys=True)))}.json"
    path.write_text(json.dumps(config))
    return path


def run(pod: Pod, config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**pod.env, **(env or {})}
    return subprocess.run(
        [sys.executable, str(PROGRAM), "--config", str(config), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def pod(module_pod: Pod) -> Pod:
    """One server for the module (initdb is the slow part), emptied and converged for each test."""
    module_pod.psql("DROP TABLE IF EXISTS api_user, notes")
    module_pod.converge_roles()
    return module_pod


@pytest.fixture
def s3(aws_env: dict[str, str], aws_client) -> Any:
    client = aws_client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws_env["AWS_REGION"]})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield client
    for page in client.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"], VersionId=item["VersionId"])
    for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=BUCKET)


def s3_config(pod: Pod, tmp: Path, aws_env: dict[str, str], **extra: Any) -> tuple[Path, dict[str, str]]:
    config = configure(
        pod, tmp, f"s3://{BUCKET}/postgres", s3_endpoint_url=aws_env["AWS_ENDPOINT_URL"], s3_region="eu-west-1", **extra
    )
    env = {key: value for key, value in aws_env.items() if key != "AWS_ENDPOINT_URL"}
    return config, env


def test_backup_streams_to_s3_and_restores_into_a_fresh_database(
    pod: Pod, tmp_path: Path, s3: Any, aws_env: dict[str, str]
) -> None:
    seed(pod, payload_mib=12)
    source_counts = counts(pod)
    config, env = s3_config(pod, tmp_path, aws_env, part_size_mib=5)
    backup = ok(run(pod, config, "backup", env=env))

    name = backup["name"]
    assert name.startswith("demo-")
    assert name.endswith("Z.dump")
    dump = s3.get_object(Bucket=BUCKET, Key=f"postgres/{name}")["Body"].read()
    assert dump.startswith(b"PGDMP")
    assert len(dump) == backup["bytes"] > 10 * 1024 * 1024
    assert hashlib.sha256(dump).hexdigest() == backup["sha256"]
    checksum = s3.get_object(Bucket=BUCKET, Key=f"postgres/{name}.sha256")["Body"].read().decode()
    assert checksum == f"{backup['sha256']}  {name}\n", "sha256sum format: `sha256sum -c` checks it"
    # Streamed in parts (5 MiB here), so no full copy was ever held.
    etag = s3.head_object(Bucket=BUCKET, Key=f"postgres/{name}")["ETag"]
    assert int(etag.strip('"').rsplit("-", 1)[1]) >= 2, f"a multipart upload (ETag {etag})"
    assert ok(run(pod, config, "list", env=env))["backups"] == [name]

    fresh = start_pod(tmp_path / "fresh")
    try:
        fresh.converge_roles()
        fresh_config, _ = s3_config(fresh, tmp_path, aws_env)
        verified = ok(run(fresh, fresh_config, "verify", "latest", env=env))
        assert verified["tables"] == source_counts
        restored = ok(run(fresh, fresh_config, "restore", "latest", env=env))
        assert restored["tables"] == source_counts
        assert counts(fresh) == source_counts
        assert fresh.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'") == "demo"
        assert fresh.psql("SELECT name FROM api_user WHERE dni = 'd7'") == "name\twith\ntabs 7"
    finally:
        fresh.server.stop()


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_damaged_backup_is_refused_and_nothing_is_restored(
    damage: str, pod: Pod, tmp_path: Path, s3: Any, aws_env: dict[str, str]
) -> None:
    seed(pod)
    config, env = s3_config(pod, tmp_path, aws_env)
    good = ok(run(pod, config, "verify", ok(run(pod, config, "backup", env=env))["name"], env=env))
    key = f"postgres/{good['name']}"
    dump = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    if damage == "corrupted":
        dump[len(dump) // 2] ^= 0x01
    else:
        del dump[-100:]
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(dump))
    pod.psql("SET ROLE demo; INSERT INTO notes (body) VALUES ('written after the backup')")
    before = counts(pod)

    refused = run(pod, config, "verify", good["name"], env=env)
    assert refused.returncode == 1
    assert f"{key} is damaged (truncated or corrupted)" in refused.stderr
    assert "Nothing was restored" in refused.stderr

    # Even past the verification (the object replaced between the two reads), the stream is refused
    # before pg_restore can commit: the held-back last chunk never arrives.
    expect = json.dumps({**good, "pin": None})
    refused = run(pod, config, "restore", good["name"], "--expect-json", expect, env=env)
    assert refused.returncode == 1, refused.stderr
    assert "is damaged" in refused.stderr
    assert counts(pod) == before, "a refused restore changes nothing"


def test_failed_dump_leaves_no_backup(pod: Pod, tmp_path: Path, s3: Any, aws_env: dict[str, str]) -> None:
    config, env = s3_config(pod, tmp_path, aws_env, database="no_such_database")
    failed = run(pod, config, "backup", env=env)
    assert failed.returncode == 1
    assert "pg_dump failed" in failed.stderr
    assert "no_such_database" in failed.stderr
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert ok(run(pod, config, "list", env=env))["backups"] == []
    nothing = run(pod, config, "restore", "latest", env=env)
    assert nothing.returncode == 1
    assert "there is no complete backup" in nothing.stderr


def test_folder_destination_keeps_the_newest_backups(pod: Pod, tmp_path: Path) -> None:
    seed(pod, users=3)
    folder = tmp_path / "backups"
    folder.mkdir()
    config = configure(pod, tmp_path, f"file://{folder}", keep=2)
    names = []
    for _ in range(3):
        names.append(ok(run(pod, config, "backup"))["name"])
        time.sleep(1.1)  # names carry the second
    safety = ok(run(pod, config, "backup", "--folder", "pre-restore"))["name"]
    assert sorted(p.name for p in folder.glob("*.dump")) == sorted(names[1:])
    assert (folder / f"{names[2]}.sha256").read_text().split()[0] == hashlib.sha256(
        (folder / names[2]).read_bytes()
    ).hexdigest()
    assert (folder / safety).is_file(), "safety dumps are kept apart and never pruned"
    assert not list(folder.glob(".*partial")), "no half-written file is left"
    for path in folder.rglob("*.dump*"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    assert ok(run(pod, config, "verify", safety))["tables"]["public.api_user"] == 3
