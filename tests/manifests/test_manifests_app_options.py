"""The app role's three options, rendered: HTTPS on the NodePort (a TLS Secret, mounted, HTTPS
probes), write protection (the token in the Secret only, generated once) and the admin switch; and
the defaults, which render none of it."""

from __future__ import annotations

import base64
import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import default_inventory, render_or_fail, run_render
from test_manifests_schema import schema_version

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key, as an operator would keep on the control node."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "api.crt", folder / "api.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


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


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cert-without-key", "HTTPS needs both app_tls_cert_file"),
        ("missing-file", "HTTPS needs both app_tls_cert_file"),
        ("not-pem", "HTTPS needs both app_tls_cert_file"),
        ("short-token", "app_write_token must have at least 16 characters"),
    ],
)
def test_bad_option_values_are_refused_before_rendering(case, message, tls_files, tmp_path):
    cert_file, key_file = tls_files
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    variables = {
        "cert-without-key": {"app_tls_cert_file": str(cert_file)},
        "missing-file": {"app_tls_cert_file": str(tmp_path / "nope.crt"), "app_tls_key_file": str(key_file)},
        "not-pem": {"app_tls_cert_file": str(not_pem), "app_tls_key_file": str(key_file)},
        "short-token": {"app_write_protection": True, "app_write_token": "too-short"},
    }[case]
    credentials = tmp_path / "credentials"
    root = tmp_path / "manifests"
    result = run_render(
        root,
        {**variables, "postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)},
        "localhost,",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    assert not list(root.rglob("*.yaml"))
