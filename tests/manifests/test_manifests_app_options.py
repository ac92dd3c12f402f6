"""The app role's three options, rendered: HTTPS on the NodePort (a TLS Secret, mounted, HTTPS
probes), write protection (the token in the Secret only, generated once) and the admin switch; and
the defaults, which render none of it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, default_inventory, render_or_fail
from test_manifests_schema import schema_version

sys.path.insert(0, str(REPO / "app" / "tests"))
from throwaway_tls import write_self_signed  # noqa: E402

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A throwaway certificate and key, as an operator would keep them on the control node."""
    return write_self_signed(tmp_path_factory.mktemp("tls"), "api.example.com")


@pytest.fixture(scope="module")
def options_render(tmp_path_factory, tls_files):
    base = tmp_path_factory.mktemp("render-options")
    credentials = base / "credentials"
    cert_file, key_file = tls_files
    variables = {
        "postgres_credentials_dir": str(credentials),
        "app_credentials_dir": str(credentials),
        "app_tls_cert_file": str(cert_file),
        "app_tls_key_file": str(key_file),
        "app_write_protection": True,
        "app_admin_enabled": True,
    }
    return render_or_fail(base / "manifests", variables, default_inventory())


def web_container(rendered) -> dict:
    (container,) = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_tls_secret_holds_the_given_files(options_render, tls_files):
    cert_file, key_file = tls_files
    secret = options_render.one("Secret", "demo-api-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == cert_file.read_bytes()
    assert base64.b64decode(secret["data"]["tls.key"]) == key_file.read_bytes()
    assert (options_render.root / "app" / "12-tls-secret.yaml").stat().st_mode & 0o077 == 0


def test_pods_serve_https_with_the_mounted_secret(options_render):
    pod = options_render.one("Deployment")["spec"]["template"]["spec"]
    container = web_container(options_render)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "demo-api-tls"
    settings = options_render.one("ConfigMap", "demo-api")["data"]
    assert settings["APP_TLS_CERT_FILE"] == f"{mount['mountPath']}/tls.crt"
    assert settings["APP_TLS_KEY_FILE"] == f"{mount['mountPath']}/tls.key"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"


def test_write_token_lives_in_the_secret_only_and_is_generated_once(options_render):
    token_file = options_render.credentials / "app-write-token"
    token = token_file.read_text().strip()
    assert len(token) >= 16
    secret = options_render.one("Secret", "demo-api")
    assert secret["stringData"]["APP_WRITE_TOKEN"] == token
    for path in options_render.files():
        if "secret" not in path.name:
            assert token not in path.read_text(), f"the write token leaked into {path.name}"


def test_admin_switch_reaches_the_settings(options_render, default_render):
    assert options_render.one("ConfigMap", "demo-api")["data"]["DJANGO_ADMIN_ENABLED"] == "true"
    assert default_render.one("ConfigMap", "demo-api")["data"]["DJANGO_ADMIN_ENABLED"] == "false"
    # The admin listener is the pod's loopback: no Service or container port names it.
    for rendered in (options_render, default_render):
        ports = [p["containerPort"] for p in web_container(rendered)["ports"]]
        assert ports == [8000]


def test_defaults_render_none_of_the_options(default_render):
    assert not default_render.of_kind("Secret") or all(
        s["metadata"]["name"] != "demo-api-tls" for s in default_render.of_kind("Secret")
    )
    assert "APP_WRITE_TOKEN" not in default_render.one("Secret", "demo-api")["stringData"]
    assert not (default_render.credentials / "app-write-token").exists()
    settings = default_render.one("ConfigMap", "demo-api")["data"]
    assert "APP_TLS_CERT_FILE" not in settings
    container = web_container(default_render)
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert all(m["name"] != "tls" for m in container["volumeMounts"])


def test_options_render_is_valid_for_the_pinned_kubernetes(options_render):
    files = [str(p) for p in options_render.files()]
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version", schema_version(), *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
