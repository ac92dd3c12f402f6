"""Bad variables stop render.yml in the roles' first tasks, with a message naming the problem."""

from __future__ import annotations

import pytest
from conftest import REPO, run_render

CASES = {
    "nodeport-below-range": ({"app_node_port": 8080}, "app_node_port inside app_node_port_range"),
    "nodeport-outside-custom-range": (
        {"app_node_port": 30800, "app_node_port_range": "31000-31999"},
        "app_node_port inside app_node_port_range",
    ),
    "zero-replicas": ({"app_replicas": 0}, "app_replicas between 1 and 50"),
    "replicas-not-a-number": ({"app_replicas": "two"}, "app_replicas"),
    "storage-size-unit": ({"postgres_storage_size": "5GB"}, "postgres_storage_size"),
    "storage-size-words": ({"postgres_storage_size": "lots"}, "like 5Gi or 500Mi"),
    "pull-policy-choice": ({"app_image_pull_policy": "Sometimes"}, "app_image_pull_policy"),
    "secret-in-extra-env": ({"app_extra_env": {"DJANGO_SECRET_KEY": "x"}}, "belong in the Secret"),
    "tls-cert-without-key": ({"app_tls_cert_file": str(REPO / "README.md")}, "HTTPS needs both app_tls_cert_file"),
    "tls-missing-files": (
        {"app_tls_cert_file": "/nonexistent/tls.crt", "app_tls_key_file": "/nonexistent/tls.key"},
        "HTTPS needs both app_tls_cert_file",
    ),
    "tls-not-pem": (
        {"app_tls_cert_file": str(REPO / "README.md"), "app_tls_key_file": str(REPO / "README.md")},
        "HTTPS needs both app_tls_cert_file",
    ),
    "short-write-token": (
        {"app_write_protection": True, "app_write_token": "too-short"},
        "app_write_token must have at least 16 characters",
    ),
    "database-login-in-extra-env": ({"app_extra_env": {"POSTGRES_PASSWORD": "x"}}, "belong in the Secret"),
    "password-of-an-earlier-release": ({"postgres_password": "x" * 32}, "postgres_password was split in two"),
    "app-password-of-an-earlier-release": (
        {"app_database_password": "x" * 32},
        "app_database_password and app_database_user are gone",
    ),
    "app-password-too-short": ({"postgres_app_password": "short"}, "at least 16 printable ASCII characters"),
    "password-with-a-space": ({"postgres_superuser_password": "with a space 0123456789"}, "without spaces"),
    "owner-named-like-the-superuser": ({"postgres_user": "postgres"}, "other than postgres"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_value_is_rejected_before_rendering(case, tmp_path):
    variables, message = CASES[case]
    root = tmp_path / "manifests"
    credentials = tmp_path / "credentials"
    result = run_render(
        root,
        {**variables, "postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)},
        "localhost,",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    # Both roles validate before either renders: nothing was written.
    assert not list(root.rglob("*.yaml")), "manifests were written despite the bad value"
