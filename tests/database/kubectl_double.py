#!/usr/bin/env python3
"""A kubectl TEST DOUBLE for the database tests: never used outside them, never a cluster.

The postgres role's node-side tasks, k3s-pg-backup and playbooks/restore.yml reach the cluster only
through `k3s kubectl` on the first server (`postgres_kubectl`). The tests point that at this script,
which plays the few kubectl verbs they use against a state folder (KUBECTL_DOUBLE_STATE) and a real
PostgreSQL server that stands in for the database pod:

  exec [-i] -n NS POD -c CONTAINER -- CMD...   CMD runs here with the pod's environment (PGHOST and
                                               PGPORT of the test server); stdin is passed only with
                                               -i, as kubectl does
  apply -f -                                   one Secret from stdin (stringData or data)
  get secret NAME -n NS -o jsonpath={.data.KEY} | -o json
  get deployment -n NS -l K=V,... -o name
  get deployment NAME -n NS -o jsonpath={.spec.replicas}
  get pods -n NS -l K=V,... --field-selector=status.phase=Running -o name
  scale deployment/NAME --replicas=N -n NS
  rollout restart deployment/NAME -n NS
  rollout status deployment/NAME -n NS [--timeout=...]

A Deployment is modelled as its replicas and the generations of pods that run: each generation holds
the database credentials the app Secret had when its pods started (env from a Secret is read at
container start). `rollout restart` and scaling up start a new generation; `rollout status` waits
until the newest generation is ready, which for these pods means it can log in to the database (the
app's readiness probe queries it), then the older generations are gone. A generation that cannot log
in never becomes ready: `rollout status` fails with kubectl's timeout message, and the old pods stay.

It refuses what kubectl refuses, with kubectl's words (an unknown pod, container, Secret or
Deployment), and refuses with its own message every verb or flag it does not implement. Every call is
appended to events.jsonl in the state folder, for tests that check the order of operations.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

STATE = Path(os.environ.get("KUBECTL_DOUBLE_STATE", ""))


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(code)


def unsupported(argv: list[str]) -> None:
    fail(f"kubectl test double: not implemented: kubectl {' '.join(argv)}", 2)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True))
    partial.replace(path)  # readers (the tests' login checker) never see half a file


def object_path(namespace: str, kind: str, name: str) -> Path:
    return STATE / "objects" / namespace / kind / f"{name}.json"


def secret_values(namespace: str, name: str) -> dict[str, str]:
    path = object_path(namespace, "secret", name)
    if not path.exists():
        return {}
    return {key: base64.b64decode(value).decode() for key, value in load(path).get("data", {}).items()}


def can_log_in(credentials: dict[str, str]) -> bool:
    pod = load(STATE / "cluster.json")["database"]
    env = {**os.environ, "PGPASSWORD": credentials.get("POSTGRES_PASSWORD", ""), "PGCONNECT_TIMEOUT": "5"}
    user = credentials.get("POSTGRES_USER", "")
    target = f"host={pod['tcp_host']} port={pod['port']} dbname={pod['database']} user={user}"
    argv = [str(Path(pod["bin_dir"]) / "psql"), "-X", "-At", "-c", "SELECT 1", target]
    return subprocess.run(argv, env=env, capture_output=True, check=False).returncode == 0


def split_flags(argv: list[str]) -> tuple[list[str], dict[str, str], set[str]]:
    """Positional words, --flag=value / -f value options, and bare switches; stops at `--`."""
    words, options, switches = [], {}, set()
    takes_value = {"-n", "--namespace", "-c", "--container", "-o", "--output", "-l", "--selector", "-f", "--filename"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            words.append("--")
            words += argv[i + 1 :]
            break
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            options[key] = value
        elif arg in takes_value:
            options[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-"):
            switches.add(arg)
        else:
            words.append(arg)
        i += 1
    for short, long in (("-n", "--namespace"), ("-c", "--container"), ("-o", "--output"), ("-l", "--selector")):
        if short in options:
            options[long] = options.pop(short)
    return words, options, switches


def do_exec(argv: list[str]) -> int:
    words, options, switches = split_flags(argv)
    if "--" not in words or switches - {"-i", "--stdin"}:
        unsupported(["exec", *argv])
    pod_name, command = words[: words.index("--")], words[words.index("--") + 1 :]
    namespace = options.get("--namespace", "default")
    cluster = load(STATE / "cluster.json")
    pod = cluster["pods"].get(f"{namespace}/{pod_name[0] if pod_name else ''}")
    if not pod_name or pod is None:
        fail(f'Error from server (NotFound): pods "{pod_name[0] if pod_name else ""}" not found')
    container = options.get("--container", pod["containers"][0])
    if container not in pod["containers"]:
        fail(f'error: unable to upgrade connection: container not found ("{container}")')
    env = {**os.environ, **pod["env"], "PATH": f"{pod['bin_dir']}{os.pathsep}{os.environ['PATH']}"}
    stdin = None if switches & {"-i", "--stdin"} else subprocess.DEVNULL
    result = subprocess.run(command, env=env, stdin=stdin, check=False)
    if result.returncode != 0:
        print(f"command terminated with exit code {result.returncode}", file=sys.stderr)
    return result.returncode


def do_apply(argv: list[str]) -> int:
    words, options, switches = split_flags(argv)
    if options.get("-f") != "-" or words or switches - {"--server-side"}:
        unsupported(["apply", *argv])
    document = yaml.safe_load(sys.stdin.read())
    if document.get("kind") != "Secret":
        unsupported(["apply", *argv, f"(kind {document.get('kind')})"])
    meta = document["metadata"]
    data = dict(document.get("data") or {})
    for key, value in (document.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    path = object_path(meta.get("namespace", "default"), "secret", meta["name"])
    stored = {"metadata": meta, "data": data, "type": document.get("type", "Opaque")}
    verb = "created" if not path.exists() else ("unchanged" if load(path) == stored else "configured")
    save(path, stored)
    print(f"secret/{meta['name']} {verb}")
    return 0


def do_get(argv: list[str]) -> int:
    words, options, _ = split_flags(argv)
    namespace = options.get("--namespace", "default")
    output = options.get("--output", "")
    if words[:1] in (["secret"], ["secrets"]) and len(words) == 2:
        path = object_path(namespace, "secret", words[1])
        if not path.exists():
            fail(f'Error from server (NotFound): secrets "{words[1]}" not found')
        secret = load(path)
        if output == "json":
            print(json.dumps({"apiVersion": "v1", "kind": "Secret", **secret}))
        elif output.startswith("jsonpath={.data.") and output.endswith("}"):
            print(secret["data"].get(output[len("jsonpath={.data.") : -1], ""), end="")
        else:
            unsupported(["get", *argv])
        return 0
    if words == ["pods"] and output == "name" and options.get("--field-selector") == "status.phase=Running":
        wanted = selector(options)
        folder = STATE / "objects" / namespace / "deployment"
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            state = load(path)
            if all(state["pod_labels"].get(k) == v for k, v in wanted.items()):
                for generation, _ in enumerate(state["generations"]):
                    for replica in range(state["replicas"]):
                        print(f"pod/{path.stem}-{generation}-{replica}")
        return 0
    if words[:1] in (["deployment"], ["deployments"]) and len(words) == 1 and output == "name":
        wanted = selector(options)
        folder = STATE / "objects" / namespace / "deployment"
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            labels = load(path)["labels"]
            if all(labels.get(k) == v for k, v in wanted.items()):
                print(f"deployment.apps/{path.stem}")
        return 0
    name = target(words)
    if name and output == "jsonpath={.spec.replicas}":
        print(deployment(namespace, name)["replicas"], end="")
        return 0
    unsupported(["get", *argv])
    return 2


def selector(options: dict[str, str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in options.get("--selector", "").split(",") if item)


def deployment(namespace: str, name: str) -> dict:
    path = object_path(namespace, "deployment", name)
    if not path.exists():
        fail(f'Error from server (NotFound): deployments.apps "{name}" not found')
    return load(path)


def new_generation(namespace: str, state: dict) -> dict:
    return {"started": time.time(), "credentials": secret_values(namespace, state["secret"])}


DEPLOYMENT = ("deployment", "deployments", "deployment.apps", "deployments.apps")


def target(words: list[str]) -> str:
    """The Deployment named as TYPE/NAME or TYPE NAME, as kubectl takes it; "" for anything else."""
    if len(words) == 1 and "/" in words[0] and words[0].split("/", 1)[0] in DEPLOYMENT:
        return words[0].split("/", 1)[1]
    if len(words) == 2 and words[0] in DEPLOYMENT:
        return words[1]
    return ""


def do_scale(argv: list[str]) -> int:
    words, options, _ = split_flags(argv)
    name, namespace = target(words), options.get("--namespace", "default")
    if not name or "--replicas" not in options:
        unsupported(["scale", *argv])
    state = deployment(namespace, name)
    state["replicas"] = int(options["--replicas"])
    if state["replicas"] == 0:
        state["generations"] = []
    elif not state["generations"]:
        state["generations"] = [new_generation(namespace, state)]
    save(object_path(namespace, "deployment", name), state)
    print(f"deployment.apps/{name} scaled")
    return 0


def do_rollout(argv: list[str]) -> int:
    words, options, _ = split_flags(argv)
    action, name, namespace = words[0] if words else "", target(words[1:]), options.get("--namespace", "default")
    if action not in ("restart", "status") or not name:
        unsupported(["rollout", *argv])
    state = deployment(namespace, name)
    path = object_path(namespace, "deployment", name)
    if action == "restart":
        if state["replicas"] > 0:
            state["generations"].append(new_generation(namespace, state))
        save(path, state)
        print(f"deployment.apps/{name} restarted")
        return 0
    if state["generations"] and not can_log_in(state["generations"][-1]["credentials"]):
        fail("error: timed out waiting for the condition")
    # Old and new pods overlap for a moment (maxUnavailable 0), long enough for the tests' checker.
    time.sleep(float(os.environ.get("KUBECTL_DOUBLE_ROLLOUT_SECONDS", "0.5")))
    state["generations"] = state["generations"][-1:]
    save(path, state)
    print(f'deployment "{name}" successfully rolled out')
    return 0


def main() -> int:
    if not (STATE / "cluster.json").is_file():
        fail("kubectl test double: KUBECTL_DOUBLE_STATE must name a folder holding cluster.json", 2)
    argv = sys.argv[1:]
    if argv[:1] == ["kubectl"]:  # called as `k3s kubectl ...`
        argv = argv[1:]
    verbs = {"exec": do_exec, "apply": do_apply, "get": do_get, "scale": do_scale, "rollout": do_rollout}
    if not argv or argv[0] not in verbs:
        unsupported(argv)
    started = time.time()
    code = 2
    try:
        if argv[0] in ("get", "scale", "rollout") and split_flags(argv[1:])[2]:
            unsupported(argv)  # a switch the double does not know is refused, never ignored
        code = verbs[argv[0]](argv[1:])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        with (STATE / "events.jsonl").open("a") as events:
            events.write(json.dumps({"start": started, "end": time.time(), "argv": argv, "rc": code}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
