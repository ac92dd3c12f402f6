# Entry points for operators and contributors. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(CURDIR)/$(VENV)/bin
# Every recipe sees the project's tools first, without activating anything.
export PATH := $(BIN):$(CURDIR)/$(CHECKOV_VENV)/bin:$(PATH)

.PHONY: help setup lint scan test test-% images bench lab lab-down deploy destroy inventory kubeconfig upgrade reset clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_%-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The stamps make `setup` a no-op until a requirements file changes.
$(VENV)/.stamp: requirements-dev.txt app/requirements.in
	@echo "==> Installing the development tools into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --requirement requirements-dev.txt
	@touch $@

$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	@echo "==> Installing checkov into $(CHECKOV_VENV)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install --quiet --requirement requirements-checkov.txt
	@touch $@

setup: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## Create the virtualenvs with the pinned tools

lint: setup ## ansible-lint (production), yamllint, ruff, terraform fmt, hadolint
	@scripts/test.sh lint

scan: setup ## Security scanners: checkov on Terraform, Dockerfiles and rendered manifests
	@scripts/test.sh scan

test: setup ## Run every test tier that can run on this machine, then list what was skipped
	@scripts/test.sh

test-%: setup ## Run one tier: test-lint, test-scan, test-unit, test-roles, ...
	@scripts/test.sh $*

images: ## Build the Debian base and systemd node images (offline-capable)
	@scripts/node-images.sh

bench: setup ## Benchmark the API: gunicorn + PostgreSQL under wrk, req/s and p50/p99 per endpoint
	@scripts/bench.sh

# k3s is looked for (and an air-gap directory checksummed) before the tools are installed.
lab: ## The whole stack on local containers (1 server + 2 agents); needs k3s (internet or K3S_AIRGAP_DIR) and --privileged
	@scripts/lab.sh preflight
	@$(MAKE) --no-print-directory setup
	@scripts/lab.sh up

lab-down: ## Remove the lab containers, their volumes, the network and the lab's kubeconfig
	@scripts/lab.sh down

TERRAFORM := terraform -chdir=terraform

# docs/aws.md: what it asks for, and what only a real AWS account proves.
deploy: setup ## The whole deploy: terraform apply, wait for the nodes, build + push the image to ECR, site.yml
	@TF_ARGS="$(TF_ARGS)" ANSIBLE_ARGS="$(ANSIBLE_ARGS)" scripts/deploy.sh

destroy: ## terraform destroy: every AWS resource of the stack, and inventory/terraform.yml
	$(TERRAFORM) destroy $(TF_ARGS)

inventory: ## Write inventory/terraform.yml again from the Terraform state
	$(TERRAFORM) output -raw inventory > inventory/terraform.yml.tmp && mv inventory/terraform.yml.tmp inventory/terraform.yml

kubeconfig: setup ## Fetch the admin kubeconfig again (./kubeconfig)
	ansible-playbook site.yml --tags kubeconfig

upgrade: setup ## Rolling k3s upgrade: make upgrade K3S_VERSION=v1.34.2+k3s1
	ansible-playbook playbooks/upgrade.yml $(if $(K3S_VERSION),-e k3s_version=$(K3S_VERSION))

reset: setup ## Uninstall k3s and ALL cluster data from every node (asks first)
	ansible-playbook playbooks/reset.yml

clean: ## Remove the virtualenvs and caches (Docker images are kept)
	rm -rf $(VENV) $(CHECKOV_VENV) .cache .pytest_cache .ruff_cache
