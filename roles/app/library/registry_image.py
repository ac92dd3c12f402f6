#!/usr/bin/python
"""Ansible module: is an image tag in a registry, and give its manifest more tags (registry API v2)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_image
short_description: Look up an image tag in a container registry, and add tags to that image
description:
  - Speaks the Docker Registry HTTP API v2 (the OCI distribution API) directly, so the control node
    needs no Docker engine: C(HEAD /v2/<name>/manifests/<tag>) tells whether the tag exists.
  - With O(add_tags), the same manifest is stored under each extra tag (C(PUT /v2/<name>/manifests/<tag>)),
    as C(docker tag) + C(docker push) would; layers are not copied. A tag that already names the same
    image is left alone; one that names another image fails (ECR repositories here have immutable tags).
  - Basic authentication, as Amazon ECR expects with the token of GetAuthorizationToken
    (user C(AWS); see the ecr_authorization_token module) and as a registry with an htpasswd file does.
  - A registry on a loopback address (127.0.0.0/8, ::1, localhost) is spoken to over plain HTTP, as
    Docker does; every other one over HTTPS with certificate checks.
options:
  repository:
    description: The image without its tag, C(<registry host[:port]>/<name>).
    type: str
    required: true
  tag:
    description: The tag to look up.
    type: str
    required: true
  add_tags:
    description: Tags to add to the image O(tag) names, when it exists.
    type: list
    elements: str
    default: []
  username:
    description: Registry user (C(AWS) for ECR).
    type: str
  password:
    description: Registry password (for ECR, the token of GetAuthorizationToken).
    type: str
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 30
author:
  - k3s platform team
"""

EXAMPLES = r"""
- name: Look up the image
  registry_image:
    repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/k3s/app
    tag: 0123456789ab
    username: AWS
    password: "{{ ecr_login.password }}"
  register: image
  no_log: true
"""

RETURN = r"""
exists:
  description: Whether the tag is in the repository.
  returned: always
  type: bool
digest:
  description: The manifest digest the tag names (empty when it does not exist).
  returned: always
  type: str
added_tags:
  description: The tags this run added (or, in check mode, would add).
  returned: always
  type: list
url:
  description: The manifest URL that was looked up.
  returned: always
  type: str
"""

import base64  # noqa: E402  (Ansible modules put their documentation first)
import hashlib  # noqa: E402
import ipaddress  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402

# Every manifest type a pushed image can have: Docker's (classic builder) and OCI's, single or index.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


class RegistryError(Exception):
    pass


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Registry:
    def __init__(self, module: AnsibleModule) -> None:
        host, _, self.name = module.params["repository"].partition("/")
        if not self.name:
            module.fail_json(msg=f"repository {module.params['repository']!r} has no registry host: use <host>/<name>")
        self.base = f"{'http' if is_loopback(host) else 'https'}://{host}/v2/{self.name}"
        self.headers = {"Accept": MANIFEST_TYPES}
        if module.params["username"] is not None:
            pair = f"{module.params['username']}:{module.params['password'] or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.timeout = module.params["timeout"]

    def url(self, tag: str) -> str:
        return f"{self.base}/manifests/{tag}"

    def _call(self, method: str, tag: str, data: bytes | None = None, headers: dict | None = None):
        try:
            return open_url(
                self.url(tag),
                method=method,
                data=data,
                headers={**self.headers, **(headers or {})},
                timeout=self.timeout,
                follow_redirects="all",
            )
        except Exception as exc:  # urllib's HTTPError is a response too: 404 is an answer, not a failure
            status = getattr(exc, "code", None)
            if status == 404:
                return None
            if status == 401:
                raise RegistryError(
                    f"{method} {self.url(tag)}: 401 Unauthorized (the registry refused the login)"
                ) from None
            if status is not None:
                raise RegistryError(f"{method} {self.url(tag)}: HTTP {status}") from exc
            raise RegistryError(f"{method} {self.url(tag)}: {exc}") from exc

    def digest(self, tag: str) -> str | None:
        """The digest the tag names, or None when the tag is not there."""
        response = self._call("HEAD", tag)
        if response is None:
            return None
        if response.headers.get("Docker-Content-Digest"):
            return response.headers["Docker-Content-Digest"]
        # The header is optional in the API: the digest of a manifest is the sha256 of its bytes.
        return "sha256:" + hashlib.sha256(self.manifest(tag)[0]).hexdigest()

    def manifest(self, tag: str) -> tuple[bytes, str]:
        response = self._call("GET", tag)
        if response is None:
            raise RegistryError(f"{self.url(tag)} vanished while it was being tagged")
        return response.read(), response.headers.get("Content-Type", "")

    def put(self, tag: str, body: bytes, content_type: str) -> None:
        self._call("PUT", tag, data=body, headers={"Content-Type": content_type})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "repository": {"type": "str", "required": True},
            "tag": {"type": "str", "required": True},
            "add_tags": {"type": "list", "elements": "str", "default": []},
            "username": {"type": "str"},
            "password": {"type": "str", "no_log": True},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    registry = Registry(module)
    result = {"changed": False, "exists": False, "digest": "", "added_tags": []}
    result["url"] = registry.url(module.params["tag"])
    try:
        digest = registry.digest(module.params["tag"])
        if digest is None:
            module.exit_json(**result)
        result.update(exists=True, digest=digest)
        for extra in module.params["add_tags"]:
            present = registry.digest(extra)
            if present == digest:
                continue
            if present is not None:
                raise RegistryError(f"tag {extra} already names another image ({present}, not {digest})")
            result["added_tags"].append(extra)
            if not module.check_mode:
                body, content_type = registry.manifest(module.params["tag"])
                registry.put(extra, body, content_type)
    except RegistryError as exc:
        module.fail_json(msg=str(exc), **result)
    result["changed"] = bool(result["added_tags"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
