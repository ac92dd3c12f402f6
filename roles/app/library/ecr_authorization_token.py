#!/usr/bin/python
"""Ansible module: a Docker login for Amazon ECR, from boto3 (no AWS CLI needed)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ecr_authorization_token
short_description: Get a Docker registry login for Amazon ECR
description:
  - Calls ECR GetAuthorizationToken with boto3 (the usual AWS credential chain) and returns the
    user name, password and registry address that community.docker.docker_login expects.
  - The password is returned as it is, so the tasks that log in can use it: register the result
    with C(no_log: true) on the task, which keeps it out of every output.
options:
  region:
    description: AWS region of the repository; the environment's default region when omitted.
    type: str
requirements:
  - boto3
author:
  - k3s platform team
"""

EXAMPLES = r"""
- name: Get an ECR login
  ecr_authorization_token:
    region: eu-west-1
  register: ecr_login
  no_log: true
"""

RETURN = r"""
username:
  description: Registry user name (always AWS).
  returned: success
  type: str
password:
  description: Registry password, valid for 12 hours.
  returned: success
  type: str
registry:
  description: Registry address, https://ACCOUNT.dkr.ecr.REGION.amazonaws.com.
  returned: success
  type: str
"""

import base64  # noqa: E402  (Ansible modules put their documentation first)

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    boto3 = None


def main() -> None:
    module = AnsibleModule(argument_spec={"region": {"type": "str"}}, supports_check_mode=True)
    if boto3 is None:
        module.fail_json(msg=missing_required_lib("boto3"))
    try:
        client = boto3.client("ecr", region_name=module.params["region"])
        data = client.get_authorization_token()["authorizationData"][0]
    except (BotoCoreError, ClientError) as exc:
        module.fail_json(msg=f"ECR GetAuthorizationToken failed: {exc}")
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    # Not added to module.no_log_values: Ansible would then replace it with a mask in the returned
    # value itself, and every login with it would fail. The calling task's no_log hides it.
    module.exit_json(changed=False, username=username, password=password, registry=data["proxyEndpoint"])


if __name__ == "__main__":
    main()
