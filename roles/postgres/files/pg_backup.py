#!/usr/bin/python3
"""k3s-pg-backup: stream PostgreSQL dumps off the cluster, and back in.

Installed by the postgres role on the first server as /usr/local/sbin/k3s-pg-backup, run nightly by
k3s-pg-backup.timer and by playbooks/backup.yml and restore.yml. It runs on the node, never in a
pod: `pg_dump` runs inside the database pod through `k3s kubectl exec` and its output streams
through this process into the destination, so no pod ever holds the node's AWS credentials (the
instance profile is reachable from the node only: IMDSv2 with a hop limit of 1).

Destinations (the `destination` setting):
  s3://BUCKET/PREFIX   AWS S3 with the instance profile, or any S3-compatible endpoint
                       (`s3_endpoint_url`, keys in the AWS shared credentials file)
  file:///PATH         a folder (on AWS the bucket is the point; off AWS, a mount of the control
                       node or of other storage that does not share the node's fate)

A backup is two objects: NAME.dump (pg_dump's custom format, streamed: no full copy on any disk)
and NAME.dump.sha256 (`sha256sum` format), written only once the dump is complete. A backup
without its checksum is not a backup: `list` and `latest` skip it, `verify` and `restore` refuse it.
On S3 the dump goes up as a multipart upload that is completed only when pg_dump succeeded; the
node has no right to delete or abort, so a failed upload stays invisible and the bucket's lifecycle
rule drops its parts.

Commands (the last line of stdout is a JSON summary, for playbooks):
  backup [--folder pre-restore]   dump the database now
  list                            complete backups, newest first
  verify NAME|latest              checksum, then the row count of every table in the dump
  restore NAME|latest [--expect-json JSON]
                                  stream the dump into pg_restore --single-transaction; the last
                                  chunk is held back until the checksum matches, so a damaged
                                  object rolls back and changes nothing; then compare row counts
  count TABLE...                  row counts of tables in the live database
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_CONFIG = "/etc/k3s-pg-backup/config.json"
CHUNK = 1024 * 1024
MAGIC = b"PGDMP"  # the first bytes of every custom-format archive
NAME_RE = re.compile(r"^(pre-restore/)?[A-Za-z0-9_][A-Za-z0-9_.-]*\.dump$")
# `schema.table` as pg_dump writes it in COPY lines: plain or double-quoted identifiers.
IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
COPY_RE = re.compile(rf"^COPY ({IDENT}\.{IDENT}) \(.*\) FROM stdin;$")
TABLE_RE = re.compile(rf"^{IDENT}\.{IDENT}$")
# S3 allows 10,000 parts of at least 5 MiB; the part size doubles every 2,000 parts, so memory stays
# at one part while the largest dump grows to about 1 TiB.
PARTS_PER_SIZE = 2000


class BackupError(Exception):
    """A failure with a message for the operator; nothing is left half-done."""


def log(message: str) -> None:
    print(f"k3s-pg-backup: {message}", file=sys.stderr, flush=True)


# --- Stores -------------------------------------------------------------------------------------


class FileStore:
    def __init__(self, root: str, keep: int):
        self.root = Path(root)
        self.keep = keep
        if not self.root.is_dir():
            raise BackupError(f"the backup folder {self.root} does not exist (the postgres role creates it)")

    def describe(self, name: str) -> str:
        return f"file://{self.root / name}"

    def names(self) -> list[str]:
        return sorted(
            (p.name for p in self.root.glob("*.dump") if (self.root / f"{p.name}.sha256").is_file()), reverse=True
        )

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def writer(self, name: str) -> FileWriter:
        return FileWriter(self.root / name)

    def put_small(self, name: str, data: bytes) -> None:
        writer = self.writer(name)
        writer.write(data)
        writer.commit()

    def read_small(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            raise BackupError(f"{self.describe(name)} does not exist") from None

    def read(self, name: str, pin: str | None) -> tuple[Iterator[bytes], str]:
        path = self.root / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise BackupError(f"{self.describe(name)} does not exist") from None
        identity = f"{stat.st_size}:{stat.st_mtime_ns}"
        if pin is not None and pin != identity:
            raise BackupError(f"{self.describe(name)} changed since it was verified; run the restore again")

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(CHUNK):
                    yield block

        return chunks(), identity

    def prune(self) -> list[str]:
        """Keep the newest `keep` complete backups of the top folder; pre-restore dumps are left alone."""
        removed = []
        for name in self.names()[self.keep :]:
            for path in (self.root / name, self.root / f"{name}.sha256"):
                path.unlink(missing_ok=True)
            removed.append(name)
        return removed


class FileWriter:
    """Written under a hidden temporary name, synced, then renamed: a reader never sees half a file."""

    def __init__(self, path: Path):
        path.parent.mkdir(mode=0o700, exist_ok=True)
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial")
        self.handle = self.partial.open("wb")
        os.chmod(self.partial, 0o600)

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)


class S3Store:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str, region: str, part_size: int):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise BackupError("boto3 is missing: install python3-boto3 (the postgres role does)") from None
        options = {"retries": {"max_attempts": 10, "mode": "standard"}}
        if endpoint_url:
            # S3-compatible servers (MinIO, Ceph, ...) commonly want path-style addressing.
            options["s3"] = {"addressing_style": "path"}
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=Config(**options)
        )
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.errors = self.client.exceptions

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def describe(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def names(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        keys = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            keys.update(item["Key"][len(base) :] for item in page.get("Contents", []))
        return sorted((k for k in keys if k.endswith(".dump") and f"{k}.sha256" in keys), reverse=True)

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def writer(self, name: str) -> S3Writer:
        return S3Writer(self.client, self.bucket, self.key(name), self.part_size)

    def put_small(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def read_small(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()
        except self.errors.NoSuchKey:
            raise BackupError(f"{self.describe(name)} does not exist") from None

    def read(self, name: str, pin: str | None) -> tuple[Iterator[bytes], str]:
        """The object's bytes; `pin` (an ETag) makes S3 refuse an object that changed since."""
        from botocore.exceptions import ClientError

        extra = {"IfMatch": pin} if pin else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name), **extra)
        except self.errors.NoSuchKey:
            raise BackupError(f"{self.describe(name)} does not exist") from None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise BackupError(
                    f"{self.describe(name)} changed since it was verified; run the restore again"
                ) from None
            raise
        return response["Body"].iter_chunks(CHUNK), response["ETag"]

    def prune(self) -> list[str]:
        return []  # retention is the bucket's lifecycle rule: the node may not delete


class S3Writer:
    """A multipart upload completed only by commit(): an aborted stream never becomes an object."""

    def __init__(self, client, bucket: str, key: str, part_size: int):
        self.client, self.bucket, self.key = client, bucket, key
        self.base_part_size = part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict] = []

    def part_size(self) -> int:
        return self.base_part_size * 2 ** (len(self.parts) // PARTS_PER_SIZE)

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self.part_size():
            size = self.part_size()
            self._upload_part(bytes(self.buffer[:size]))
            del self.buffer[:size]

    def _upload_part(self, body: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        if number > 10000:
            raise BackupError("the dump outgrew S3's 10,000 parts; raise the part size")
        etag = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})

    def commit(self) -> None:
        if self.upload_id is None:  # smaller than one part: a single PUT
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        if self.upload_id is None:
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:  # noqa: BLE001  (no abort right: the lifecycle rule drops the parts)
            log("the incomplete upload was left for the bucket's lifecycle rule to drop")


def open_store(config: dict):
    destination = config["destination"]
    url = urlparse(destination)
    if url.scheme == "file" and url.path.startswith("/"):
        return FileStore(url.path, int(config.get("keep", 7)))
    if url.scheme == "s3" and url.netloc:
        if config.get("s3_credentials_file"):  # keys of an S3-compatible server; else the instance profile
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = config["s3_credentials_file"]
        part_size = max(5, int(config.get("part_size_mib", 16))) * 1024 * 1024  # S3's minimum part is 5 MiB
        return S3Store(url.netloc, url.path, config.get("s3_endpoint_url", ""), config.get("s3_region", ""), part_size)
    raise BackupError(f"destination {destination!r} is neither s3://BUCKET/PREFIX nor file:///PATH")


# --- The database pod ---------------------------------------------------------------------------


class Pod:
    """Commands in the database container through kubectl exec (stdin only with -i, as kubectl does)."""

    def __init__(self, config: dict):
        self.kubectl = list(config["kubectl"])
        self.namespace, self.pod, self.container = config["namespace"], config["pod"], config["container"]
        self.database, self.superuser = config["database"], config["superuser"]
        self.owner = config["owner_role"]

    def command(self, *argv: str, stdin: bool = False) -> list[str]:
        flags = ["-i"] if stdin else []
        return [*self.kubectl, "exec", *flags, "-n", self.namespace, self.pod, "-c", self.container, "--", *argv]

    def start(self, *argv: str, stdin: bool = False) -> tuple[subprocess.Popen, Stderr]:
        process = subprocess.Popen(
            self.command(*argv, stdin=stdin),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return process, Stderr(process)

    def sql(self, statement: str) -> str:
        psql = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        process, errors = self.start(*psql, f"--username={self.superuser}", f"--dbname={self.database}", stdin=True)
        out, _ = process.communicate(statement.encode())
        if process.returncode != 0:
            raise BackupError(f"psql failed ({process.returncode}): {errors.tail()}")
        return out.decode()


class Stderr:
    """A command's stderr, drained on the side (a chatty command would block on a full pipe)."""

    def __init__(self, process: subprocess.Popen):
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        self.data = stream.read()

    def tail(self, lines: int = 15) -> str:
        self.thread.join(timeout=10)
        text = self.data.decode(errors="replace").strip()
        return "\n".join(text.splitlines()[-lines:]) or "(no error output)"


# --- Commands -----------------------------------------------------------------------------------


def backup(config: dict, folder: str) -> dict:
    store, pod = open_store(config), Pod(config)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{folder}/" if folder else ""
    name += f"{config['database']}-{stamp}.dump"
    if store.exists(name):
        raise BackupError(f"{store.describe(name)} exists already; wait a second and run it again")
    log(f"dumping {config['database']} from {pod.namespace}/{pod.pod} into {store.describe(name)}")
    started = time.monotonic()
    process, errors = pod.start("pg_dump", "--format=custom", f"--username={pod.superuser}", f"--dbname={pod.database}")
    writer = store.writer(name)
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        while block := process.stdout.read(CHUNK):
            if len(head) < len(MAGIC):
                head += block[: len(MAGIC)]
            digest.update(block)
            size += len(block)
            writer.write(block)
        if process.wait() != 0:
            raise BackupError(f"pg_dump failed ({process.returncode}): {errors.tail()}")
        if not head.startswith(MAGIC):
            raise BackupError("pg_dump's output is not a custom-format archive")
        writer.commit()
    except BaseException:
        process.kill()
        writer.abort()
        raise
    checksum = digest.hexdigest()
    store.put_small(f"{name}.sha256", f"{checksum}  {Path(name).name}\n".encode())
    removed = store.prune() if not folder else []
    seconds = round(time.monotonic() - started, 1)
    log(
        f"done: {size} bytes in {seconds} s, sha256 {checksum}" + (f"; removed {', '.join(removed)}" if removed else "")
    )
    return {"name": name, "destination": store.describe(name), "bytes": size, "sha256": checksum, "seconds": seconds}


def resolve(store, name: str) -> str:
    if name == "latest":
        names = store.names()
        if not names:
            raise BackupError(f"there is no complete backup in {store.describe('')}")
        return names[0]
    if not NAME_RE.match(name):
        raise BackupError(f"{name!r} is not a backup name (like demo-20260101T023000Z.dump)")
    return name


def expected_checksum(store, name: str) -> str:
    text = store.read_small(f"{name}.sha256").decode(errors="replace").split()
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise BackupError(f"{store.describe(name)}.sha256 is not a checksum file")
    return text[0]


def damaged(store, name: str, actual: str, expected: str) -> BackupError:
    return BackupError(
        f"{store.describe(name)} is damaged (truncated or corrupted): its sha256 is {actual}, its checksum "
        f"file says {expected}. Nothing was restored; pick another backup (k3s-pg-backup list)."
    )


def verify(config: dict, name: str) -> dict:
    """Read the whole backup: checksum, then every table's rows from the dump's own data."""
    store, pod = open_store(config), Pod(config)
    name = resolve(store, name)
    expected = expected_checksum(store, name)
    chunks, pin = store.read(name, None)
    log(f"verifying {store.describe(name)}")
    # pg_restore without a database prints the dump as SQL; its COPY blocks hold one row per line.
    process, errors = pod.start("pg_restore", "--data-only", "--file=-", stdin=True)
    digest, size, failure = hashlib.sha256(), 0, []

    def feed() -> None:
        nonlocal size
        try:
            for block in chunks:
                digest.update(block)
                size += len(block)
                process.stdin.write(block)
        except BrokenPipeError:
            failure.append("pg_restore stopped reading")
        except Exception as error:  # noqa: BLE001  (reported below, in the main thread)
            failure.append(str(error))
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    tables: dict[str, int] = {}
    current = None
    for raw in process.stdout:
        line = raw.rstrip(b"\n")
        if current is None:
            match = COPY_RE.match(line.decode(errors="replace"))
            if match:
                current = match.group(1)
                tables[current] = 0
        elif line == b"\\.":
            current = None
        else:
            tables[current] += 1
    feeder.join()
    returncode = process.wait()
    actual = digest.hexdigest()
    if failure and not failure[0].startswith("pg_restore"):
        raise BackupError(f"reading {store.describe(name)} failed: {failure[0]}")
    if actual != expected:
        raise damaged(store, name, actual, expected)
    if returncode != 0:
        raise BackupError(f"pg_restore cannot read {store.describe(name)} ({returncode}): {errors.tail()}")
    log(f"{name}: checksum matches ({size} bytes), {len(tables)} tables, {sum(tables.values())} rows")
    return {"name": name, "bytes": size, "sha256": actual, "pin": pin, "tables": tables}


def count(config: dict, tables: list[str]) -> dict[str, int]:
    for table in tables:
        if not TABLE_RE.match(table):
            raise BackupError(f"{table!r} is not a schema-qualified table name")
    if not tables:
        return {}
    # Each name matched TABLE_RE: identifiers as pg_dump quoted them, nothing else.
    statement = "".join(f"SELECT count(*) FROM {table};\n" for table in tables)  # noqa: S608
    values = Pod(config).sql(statement).split()
    return dict(zip(tables, map(int, values), strict=True))


def restore(config: dict, name: str, expect: dict | None) -> dict:
    store, pod = open_store(config), Pod(config)
    name = resolve(store, name)
    report = expect if expect and expect.get("name") == name else verify(config, name)
    expected = expected_checksum(store, name)
    chunks, _ = store.read(name, report.get("pin"))
    log(f"restoring {store.describe(name)} into {pod.database} (one transaction)")
    options = ["--clean", "--if-exists", "--no-owner", f"--role={pod.owner}", "--single-transaction"]
    process, errors = pod.start(
        "pg_restore", *options, f"--username={pod.superuser}", f"--dbname={pod.database}", stdin=True
    )
    threading.Thread(target=process.stdout.read, daemon=True).start()
    digest, held = hashlib.sha256(), None
    try:
        for block in chunks:
            digest.update(block)
            if held is not None:
                process.stdin.write(held)
            held = block
        actual = digest.hexdigest()
        if actual != expected:
            # Closing stdin without the last chunk: pg_restore hits the end of a truncated archive
            # before it can commit, and the transaction rolls back.
            process.stdin.close()
            process.wait()
            raise damaged(store, name, actual, expected)
        if held is not None:
            process.stdin.write(held)
        process.stdin.close()
    except BrokenPipeError:
        pass
    if process.wait() != 0:
        raise BackupError(
            f"pg_restore failed ({process.returncode}); its transaction was rolled back and the database is as "
            f"it was before: {errors.tail()}"
        )
    restored = count(config, sorted(report["tables"]))
    differences = {t: (n, restored.get(t)) for t, n in report["tables"].items() if restored.get(t) != n}
    if differences:
        detail = ", ".join(f"{t}: dump {a}, database {b}" for t, (a, b) in sorted(differences.items()))
        raise BackupError(f"row counts differ after the restore of {name}: {detail}")
    log(f"restored {name}: {len(restored)} tables, {sum(restored.values())} rows, every count as in the dump")
    return {"name": name, "sha256": actual, "tables": restored}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k3s-pg-backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.environ.get("K3S_PG_BACKUP_CONFIG", DEFAULT_CONFIG))
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("backup", help="dump the database now")
    run.add_argument("--folder", choices=["pre-restore"], default="", help="safety dumps go to a folder of their own")
    commands.add_parser("list", help="complete backups, newest first")
    check = commands.add_parser("verify", help="checksum and row counts of a backup")
    check.add_argument("name")
    back = commands.add_parser("restore", help="restore a backup into the database")
    back.add_argument("name")
    back.add_argument("--expect-json", default="", help="the JSON printed by verify, to skip a second read")
    rows = commands.add_parser("count", help="row counts of tables in the live database")
    rows.add_argument("tables", nargs="*")
    args = parser.parse_args(argv)
    # systemd stops a unit with SIGTERM: unwind, so a half-written dump is removed or left incomplete.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        config = json.loads(Path(args.config).read_text())
        if args.command == "backup":
            result = backup(config, args.folder)
        elif args.command == "list":
            store = open_store(config)
            result = {"destination": store.describe(""), "backups": store.names()}
            for name in result["backups"]:
                print(name)
        elif args.command == "verify":
            result = verify(config, args.name)
        elif args.command == "restore":
            result = restore(config, args.name, json.loads(args.expect_json) if args.expect_json else None)
        else:
            result = {"tables": count(config, args.tables)}
    except BackupError as error:
        log(f"error: {error}")
        return 1
    except Exception as error:  # noqa: BLE001  (S3, network, configuration: one line for the journal)
        log(f"error: {type(error).__name__}: {error}")
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
