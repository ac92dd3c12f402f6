"""Default deny in every namespace, and each flow the workloads need allowed by an explicit policy.

The rendered NetworkPolicies are evaluated the way Kubernetes defines them (concepts/services-
networking/network-policies): a pod selected by a policy of a type is isolated for that direction,
and a connection passes only if the source's egress side and the destination's ingress side both
allow it (a side that is not isolated allows everything). Only the selector forms the templates use
are evaluated (matchLabels, namespaceSelector with podSelector); anything else fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from test_manifests_invariants import pod_labels, pod_spec


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace, labels, named ports) or something outside the cluster's pods (namespace None)."""

    name: str
    namespace: str | None
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, int], ...] = ()


def workload(rendered, kind: str) -> Endpoint:
    doc = rendered.one(kind)
    ports = tuple((p["name"], p["containerPort"]) for c in pod_spec(doc)["containers"] for p in c.get("ports", []))
    labels = tuple(sorted(pod_labels(doc).items()))
    return Endpoint(kind, doc["metadata"]["namespace"], labels, ports)


KUBE_DNS = Endpoint("CoreDNS", "kube-system", (("k8s-app", "kube-dns"),))  # k3s manifests/coredns.yaml
OUTSIDE = Endpoint("a client or service outside the cluster", None)


def selects(selector: dict, endpoint: Endpoint) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector form not evaluated here: {selector}"
    labels = dict(endpoint.labels)
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: dict, endpoint: Endpoint, policy_namespace: str) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector"}, f"peer form not evaluated here: {peer}"
    if endpoint.namespace is None:
        return False  # pod and namespace selectors only ever match pods
    if "namespaceSelector" in peer:
        namespace = Endpoint("", None, (("kubernetes.io/metadata.name", endpoint.namespace),))
        if not selects(peer["namespaceSelector"], namespace):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), endpoint)


def port_matches(rule: dict, endpoint: Endpoint, port: int, protocol: str) -> bool:
    if "ports" not in rule:
        return True
    named = dict(endpoint.ports)
    return any(p.get("protocol", "TCP") == protocol and named.get(p["port"], p["port"]) == port for p in rule["ports"])


def side_allows(policies: list[dict], pod: Endpoint, peer: Endpoint, port: int, protocol: str, kind: str) -> bool:
    selecting = [
        p for p in policies
        if p["metadata"]["namespace"] == pod.namespace and kind in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], pod)
    ]  # fmt: skip
    if not selecting:
        return True  # not isolated in this direction
    rules_key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    target = pod if kind == "Ingress" else peer
    for policy in selecting:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            if peers is not None and not any(peer_matches(x, peer, policy["metadata"]["namespace"]) for x in peers):
                continue
            if port_matches(rule, target, port, protocol):
                return True
    return False


def allowed(rendered, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    policies = rendered.of_kind("NetworkPolicy")
    egress = source.namespace is None or side_allows(policies, source, destination, port, protocol, "Egress")
    ingress = destination.namespace is None or side_allows(policies, destination, source, port, protocol, "Ingress")
    return egress and ingress


def test_every_namespace_denies_by_default(rendered):
    namespaces = {doc["metadata"]["namespace"] for doc in rendered.docs if doc["kind"] != "Namespace"}
    for namespace in namespaces:
        deny = [
            p for p in rendered.of_kind("NetworkPolicy")
            if p["metadata"]["namespace"] == namespace and p["spec"]["podSelector"] == {}
        ]  # fmt: skip
        assert len(deny) == 1, f"namespace {namespace} has no default-deny policy"
        spec = deny[0]["spec"]
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        assert not {"ingress", "egress"} & set(spec), "default-deny allows nothing itself"


def test_both_roles_render_the_same_default_deny(tmp_path):
    """The postgres role renders it only for a namespace of its own; the same object as the app role's."""
    from conftest import load, run_render

    variables = {"postgres_namespace": "db", "postgres_client_namespace": "demo"}
    credentials = tmp_path / "credentials"
    variables |= {"postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)}
    result = run_render(tmp_path / "out", variables, "localhost,")
    assert result.returncode == 0, result.stdout[-3000:]
    rendered = load(tmp_path / "out", credentials, variables)
    deny = {p["metadata"]["namespace"]: p for p in rendered.of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}}
    assert set(deny) == {"db", "demo"}
    strip = {"__file__", "metadata"}
    assert {k: v for k, v in deny["db"].items() if k not in strip} == {
        k: v for k, v in deny["demo"].items() if k not in strip
    }
    assert rendered.one("Secret", "postgres-app")["metadata"]["namespace"] == "demo"


FLOWS = [
    # (source, destination, port, protocol, allowed, why)
    ("outside", "Deployment", "http", "TCP", True, "the NodePort brings clients to the web pods"),
    ("Deployment", "StatefulSet", 5432, "TCP", True, "the app queries PostgreSQL"),
    ("Job", "StatefulSet", 5432, "TCP", True, "the migrations run against PostgreSQL"),
    ("Deployment", "dns", 53, "UDP", True, "the app resolves the database's Service name"),
    ("Deployment", "dns", 53, "TCP", True, "DNS falls back to TCP for long answers"),
    ("Job", "dns", 53, "UDP", True, "the migrations resolve it too"),
    ("outside", "StatefulSet", 5432, "TCP", False, "nothing outside the app reaches the database"),
    ("outside", "Job", "http", "TCP", False, "the migration pods take no traffic"),
    ("Deployment", "StatefulSet", 5433, "TCP", False, "only the PostgreSQL port"),
    ("StatefulSet", "dns", 53, "UDP", False, "the database resolves nothing"),
    ("StatefulSet", "outside", 443, "TCP", False, "backups leave from the node, never from the database pod"),
    ("Deployment", "outside", 443, "TCP", False, "the app calls no outside service"),
    ("Deployment", "Deployment", "http", "TCP", False, "web pods do not call each other"),
]


@pytest.mark.parametrize(
    ("source", "destination", "port", "protocol", "expected", "why"), FLOWS, ids=[flow[5] for flow in FLOWS]
)
def test_each_flow_is_allowed_only_when_needed(rendered, source, destination, port, protocol, expected, why):
    endpoints = {"outside": OUTSIDE, "dns": KUBE_DNS}
    for kind in ("Deployment", "Job", "StatefulSet"):
        endpoints[kind] = workload(rendered, kind)
    # A named port is the web container's (the only one with a name).
    number = dict(endpoints["Deployment"].ports)[port] if isinstance(port, str) else port
    assert allowed(rendered, endpoints[source], endpoints[destination], number, protocol) is expected, why
