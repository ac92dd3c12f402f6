"""Invariants of the rendered workload manifests, with default and with non-default variables."""

from __future__ import annotations

import base64
import stat

from conftest import CUSTOM_INVENTORY, CUSTOM_VARS, REPO, load, run_render

WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}
LONG_RUNNING = {"Deployment", "StatefulSet"}


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def secret_values(rendered) -> list[str]:
    values = []
    for secret in rendered.of_kind("Secret"):
        values += list(secret.get("stringData", {}).values())
        values += [base64.b64decode(v).decode() for v in secret.get("data", {}).values()]
    return values


def test_every_template_is_rendered(rendered):
    kinds = sorted(doc["kind"] for doc in rendered.docs)
    expected = [
        "ConfigMap",
        "Deployment",
        "Job",
        "Namespace",
        "Namespace",
        *["NetworkPolicy"] * 4,  # the database's; the app's ingress, egress and the namespace's default-deny
        "PodDisruptionBudget",
        *["Secret"] * 3,  # the superuser's, the app's database login, the app's own
        "Service",
        "Service",
        "Service",
        "StatefulSet",
    ]
    assert kinds == sorted(expected), "backups leave the cluster: no CronJob, no claim besides the data's"
    assert len({doc["__file__"] for doc in rendered.docs}) == len(rendered.docs), "one object per file"


def test_nodeport_service(default_render, custom_render):
    for rendered, port in ((default_render, 30800), (custom_render, CUSTOM_VARS["app_node_port"])):
        service = [s for s in rendered.of_kind("Service") if s["spec"].get("type") == "NodePort"]
        assert len(service) == 1
        assert [p["nodePort"] for p in service[0]["spec"]["ports"]] == [port]
        assert service[0]["spec"]["externalTrafficPolicy"] == "Cluster"


def test_database_service_is_internal(rendered):
    postgres = [s for s in rendered.of_kind("Service") if s["metadata"]["name"].startswith("postgres")]
    assert {s["spec"].get("type", "ClusterIP") for s in postgres} == {"ClusterIP"}
    assert all(p["port"] == 5432 for s in postgres for p in s["spec"]["ports"])


def test_claim_storage_class_and_size(default_render, custom_render):
    for rendered, klass, size in (
        (default_render, "local-path", "5Gi"),
        (custom_render, CUSTOM_VARS["postgres_storage_class"], CUSTOM_VARS["postgres_storage_size"]),
    ):
        statefulset = rendered.one("StatefulSet")
        assert statefulset["spec"]["replicas"] == 1
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == klass
        assert claim["spec"]["resources"]["requests"]["storage"] == size
        container = pod_spec(statefulset)["containers"][0]
        mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
        pgdata = next(e["value"] for e in container["env"] if e["name"] == "PGDATA")
        assert pgdata.startswith(mount["mountPath"].rstrip("/") + "/"), "PGDATA must be a subdirectory of the claim"
        assert container["image"].split(":")[-1].split("-")[0].isdigit(), "the image pins a PostgreSQL major"


def test_no_secret_value_outside_secrets(rendered):
    values = set(secret_values(rendered)) - {rendered.one("Secret", "postgres-app")["stringData"]["POSTGRES_USER"]}
    assert len(values) == 3, "the Django key, the superuser's and the app's database passwords"
    assert all(len(v) >= 32 for v in values)
    for doc in rendered.docs:
        if doc["kind"] == "Secret":
            continue
        text = (rendered.root / doc["__file__"]).read_text()
        for value in values:
            assert value not in text, f"a secret value appears in {doc['__file__']}"
    for configmap in rendered.of_kind("ConfigMap"):
        assert not {"DJANGO_SECRET_KEY", "POSTGRES_USER", "POSTGRES_PASSWORD", "DATABASE_URL"} & set(configmap["data"])


def test_secret_files_are_private(rendered):
    for path in rendered.files():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(rendered.root.joinpath("app").stat().st_mode) == 0o700


def env_secrets(container: dict) -> set[str]:
    """Secrets a container reads: whole (envFrom) or key by key (secretKeyRef)."""
    names = {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
    names |= {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    return names


def test_each_credential_has_one_home(rendered):
    """Each value is in exactly one Secret, and every pod that needs it reads that Secret."""
    holders: dict[str, list[str]] = {}
    for secret in rendered.of_kind("Secret"):
        for key, value in secret["stringData"].items():
            if key != "POSTGRES_USER":
                holders.setdefault(value, []).append(f"{secret['metadata']['name']}/{key}")
    assert sorted(len(h) for h in holders.values()) == [1, 1, 1], holders

    app_name = rendered.variables.get("app_name", "demo-api")
    app_namespace = rendered.variables.get("app_namespace", "demo")
    login = rendered.one("Secret", "postgres-app")
    assert login["metadata"]["namespace"] == app_namespace, "the app's pods can only read a Secret of their namespace"
    owner = rendered.variables.get("postgres_user", "demo")
    assert login["stringData"]["POSTGRES_USER"] == f"{owner}_a", "the app logs in as a login role, not as the owner"
    for workload in (rendered.one("Deployment"), rendered.one("Job")):
        (container,) = pod_spec(workload)["containers"]
        assert env_secrets(container) == {app_name, "postgres-app"}, workload["kind"]
    database = pod_spec(rendered.one("StatefulSet"))["containers"][0]
    assert env_secrets(database) == {"postgres"}
    env = {e["name"]: e.get("value") for e in database["env"]}
    assert env["POSTGRES_USER"] == "postgres", "initdb creates the superuser, never the app's role"
    assert env["POSTGRES_INITDB_ARGS"] == "--auth-local=peer --auth-host=scram-sha-256"
    superuser = rendered.one("Secret", "postgres")["stringData"]["POSTGRES_PASSWORD"]
    assert superuser != login["stringData"]["POSTGRES_PASSWORD"]


def test_supplied_secrets_are_used_and_nothing_is_generated(custom_render):
    assert CUSTOM_VARS["postgres_superuser_password"] in secret_values(custom_render)
    assert CUSTOM_VARS["postgres_app_password"] in secret_values(custom_render)
    assert CUSTOM_VARS["app_secret_key"] in secret_values(custom_render)
    assert not custom_render.credentials.exists() or not any(custom_render.credentials.iterdir())


def test_generated_secrets_are_reused_and_job_names_stay_valid(default_render, tmp_path):
    """A second run with the same credentials folder renders the same secret values. It also
    deploys a digest behind a registry with a port, which must still name a valid Job."""
    credentials = default_render.credentials
    assert sorted(p.name for p in credentials.iterdir()) == [
        "django-secret-key",
        "postgres-app-password",
        "postgres-superuser-password",
    ]
    image = "registry.example.com:5000/team/api@sha256:" + "a" * 64
    variables = {
        "postgres_credentials_dir": str(credentials),
        "app_credentials_dir": str(credentials),
        "app_image": image,
    }
    again = run_render(tmp_path / "again", variables, "localhost,")
    assert again.returncode == 0, again.stdout[-3000:]
    rendered = load(tmp_path / "again", credentials, variables)
    assert sorted(secret_values(rendered)) == sorted(secret_values(default_render))
    job = rendered.one("Job")
    name = job["metadata"]["name"]
    assert len(name) <= 63, name
    assert name.replace("-", "").isalnum(), name
    assert name == name.lower(), name
    assert name.startswith("demo-api-migrate-aaaaaaaaaaaa-"), name
    assert pod_spec(job)["containers"][0]["image"] == image


def test_probes_on_every_long_running_container(rendered):
    for doc in rendered.docs:
        if doc["kind"] not in LONG_RUNNING:
            continue
        for container in pod_spec(doc)["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert probe in container, f"{doc['kind']}/{container['name']} has no {probe}"
    web = pod_spec(rendered.one("Deployment"))["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    database = pod_spec(rendered.one("StatefulSet"))["containers"][0]
    assert database["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert database["livenessProbe"]["exec"]["command"][0] == "pg_isready"


def test_security_context_on_every_container(rendered):
    count = 0
    for doc in rendered.docs:
        if doc["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            where = f"{doc['kind']}/{container['name']}"
            assert context["runAsNonRoot"] is True, where
            assert context["runAsUser"] > 0, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"], where
            # A read-only root needs a writable /tmp.
            assert "/tmp" in [m["mountPath"] for m in container["volumeMounts"]], where  # noqa: S108
            count += 1
    assert count >= 3


def test_database_pod_details(rendered):
    spec = pod_spec(rendered.one("StatefulSet"))
    assert spec["securityContext"]["fsGroup"] == 999
    shm = next(v for v in spec["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert "/dev/shm" in [m["mountPath"] for m in spec["containers"][0]["volumeMounts"]]  # noqa: S108


def test_deployment_rollout_and_spread(default_render, custom_render):
    for rendered, replicas in ((default_render, 2), (custom_render, CUSTOM_VARS["app_replicas"])):
        deployment = rendered.one("Deployment")
        assert deployment["spec"]["replicas"] == replicas
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        (spread,) = pod_spec(deployment)["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert matches(spread["labelSelector"]["matchLabels"], pod_labels(deployment))
    spread = pod_spec(custom_render.one("Deployment"))["topologySpreadConstraints"][0]
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"


def test_selectors_match_pod_labels(rendered):
    deployment, statefulset = rendered.one("Deployment"), rendered.one("StatefulSet")
    job = rendered.one("Job")
    web_labels, db_labels, job_labels = pod_labels(deployment), pod_labels(statefulset), pod_labels(job)
    assert matches(deployment["spec"]["selector"]["matchLabels"], web_labels)
    assert matches(statefulset["spec"]["selector"]["matchLabels"], db_labels)
    # The Deployment must not adopt the migration pods.
    assert not matches(deployment["spec"]["selector"]["matchLabels"], job_labels)
    services = {s["metadata"]["name"]: s for s in rendered.of_kind("Service")}
    app_service = next(s for s in services.values() if s["spec"].get("type") == "NodePort")
    assert matches(app_service["spec"]["selector"], web_labels)
    assert not matches(app_service["spec"]["selector"], job_labels)
    assert statefulset["spec"]["serviceName"] in services
    for name, service in services.items():
        if name.startswith("postgres"):
            assert matches(service["spec"]["selector"], db_labels)
    pdb = rendered.one("PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], web_labels)
    # Service target ports name real container ports.
    web_ports = {p["name"] for p in pod_spec(deployment)["containers"][0]["ports"]}
    assert {p["targetPort"] for p in app_service["spec"]["ports"]} <= web_ports


def test_database_network_policy_admits_only_the_app(rendered):
    policy = rendered.one("NetworkPolicy", "postgres")
    statefulset, deployment, job = rendered.one("StatefulSet"), rendered.one("Deployment"), rendered.one("Job")
    assert matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels(statefulset))
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "egress" not in policy["spec"], "the database opens no connection"
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    (app_peer,) = rule["from"]
    app_namespace = deployment["metadata"]["namespace"]
    assert app_peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": app_namespace}
    # The web pods and the migration pods reach the database.
    assert matches(app_peer["podSelector"]["matchLabels"], pod_labels(deployment))
    assert matches(app_peer["podSelector"]["matchLabels"], pod_labels(job))


def test_every_object_is_namespaced_and_labelled(rendered):
    for doc in rendered.docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "ansible", doc["__file__"]
        assert labels["app.kubernetes.io/part-of"] == "demo", doc["__file__"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == rendered.variables.get("app_namespace", "demo"), doc["__file__"]
    namespaces = rendered.of_kind("Namespace")
    assert namespaces[0] == {**namespaces[1], "__file__": namespaces[0]["__file__"]}, (
        "both roles render the same Namespace"
    )
    assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_settings_and_allowed_hosts(default_render, custom_render):
    default = default_render.one("ConfigMap")["data"]
    assert default["DJANGO_DEBUG"] == "false"
    assert default["POSTGRES_HOST"] == "postgres.demo.svc.cluster.local"
    assert "demo-api.demo.svc.cluster.local" in default["DJANGO_ALLOWED_HOSTS"].split(",")
    custom = custom_render.one("ConfigMap")["data"]
    hosts = custom["DJANGO_ALLOWED_HOSTS"].split(",")
    for node in CUSTOM_INVENTORY["k3s_cluster"]["children"]["agent"]["hosts"].values():
        assert node["ansible_host"] in hosts
        assert node["k3s_node_ip"] in hosts
    assert {"10.0.1.10", "203.0.113.10", "api.example.com", "users-api.shop.svc.cluster.local"} <= set(hosts)
    assert custom["POSTGRES_HOST"] == "postgres.shop.svc.cluster.local"
    assert custom["DJANGO_HTTPS"] == "true"


def test_image_and_migration_job(default_render, custom_render):
    ecr = CUSTOM_INVENTORY["k3s_cluster"]["vars"]["ecr_repository_url"]
    deployment = custom_render.one("Deployment")
    image = pod_spec(deployment)["containers"][0]["image"]
    assert image == f"{ecr}:{CUSTOM_VARS['app_image_tag']}", "the ECR repository of the inventory and the tag"
    job = custom_render.one("Job")
    assert pod_spec(job)["containers"][0]["image"] == image
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert job["metadata"]["name"].startswith("users-api-migrate-1-2-3-")
    assert len(job["metadata"]["name"]) <= 63
    for rendered in (default_render, custom_render):
        for container in (
            pod_spec(rendered.one("Deployment"))["containers"] + pod_spec(rendered.one("Job"))["containers"]
        ):
            assert container["imagePullPolicy"] == "IfNotPresent"
    # Without an inventory, the locally built image the lab imports.
    assert pod_spec(default_render.one("Deployment"))["containers"][0]["image"].startswith("localhost/demo-api:") or (
        (REPO / "inventory" / "hosts.example.yml").exists()
    )
