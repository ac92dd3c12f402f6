#!/usr/bin/env bash
# Print the path of a local Terraform provider mirror (a folder holding
# registry.terraform.io/hashicorp/aws), or exit 1 when this machine has none.
set -euo pipefail
for root in "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins" "$HOME/.terraform.d/plugins" \
  /usr/local/share/terraform/plugins /usr/share/terraform/plugins /opt/terraform/plugins /opt/tf-plugins; do
  [ -d "$root/registry.terraform.io/hashicorp/aws" ] && { echo "$root"; exit 0; }
done
# Elsewhere: a bounded search of the usual install roots.
found="$(find /opt /usr/local /usr/share /srv "$HOME" -maxdepth 5 -type d -path '*/registry.terraform.io/hashicorp/aws' \
  -print -quit 2>/dev/null || true)"
[ -n "$found" ] || exit 1
dirname "$(dirname "$(dirname "$found")")"
