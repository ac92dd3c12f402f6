#!/usr/bin/env bash
# Run the test tiers in order and print one summary: result and time per tier, then every skip with
# its reason. Usage: test.sh [tier ...]  (default: all tiers). `make test` calls it.
# A tier fails the run; a skip never does, but it is always listed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ALL_TIERS=(lint scan unit manifests app database image terraform rehearsal roles cluster)
REPORTS="$CACHE_DIR/reports"
mkdir -p "$REPORTS"
rm -f "$REPORTS"/*.xml
SKIPPED=77        # a tier returns this when it could not run here (automake's convention)
# REQUIRE_ALL_TIERS=1 (the GitHub workflow sets it): where every prerequisite is provided, a skip
# means a job that proved nothing, so a skipped tier or a test skipped everywhere fails the run.
REQUIRE_ALL_TIERS="${REQUIRE_ALL_TIERS:-0}"
SKIPS=()          # "tier: reason" lines from the harness itself
RESULTS=()        # "tier result seconds"
FAILED=0

skip() { SKIPS+=("$1: $2"); note "SKIP $1: $2"; }

# pytest with a JUnit report for the summary. Exit 5 (nothing collected) is a failure: a tier that
# silently tests nothing must not look green.
run_pytest() {
  local name="$1"; shift
  python -m pytest --junitxml="$REPORTS/$name.xml" "$@"
  local rc=$?
  [ "$rc" -eq 5 ] && printf 'ERROR: pytest collected no tests for tier %s\n' "$name" >&2
  return "$rc"
}

# Some machines export TF_CLI_CONFIG_FILE pointing at a file that does not exist; terraform then
# warns on every call. Nothing is lost by dropping it: the tests write their own CLI config.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi

# TF_PROVIDER_MIRROR lets terraform init work offline; find the machine's mirror when not given.
if [ -z "${TF_PROVIDER_MIRROR:-}" ]; then
  TF_PROVIDER_MIRROR="$("$REPO_ROOT/scripts/find-tf-mirror.sh" || true)"
  [ -n "$TF_PROVIDER_MIRROR" ] && note "Terraform provider mirror: $TF_PROVIDER_MIRROR"
fi
export TF_PROVIDER_MIRROR

docker_ready() {
  scripts/ensure-docker.sh && scripts/node-images.sh
}

tier_lint() {
  local rc=0
  say "yamllint"; yamllint --strict . || rc=1
  say "ansible-lint (production profile)"; ansible-lint --offline || rc=1
  say "ruff"; { ruff check . && ruff format --check .; } || rc=1
  say "hadolint"
  mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard -- '*Dockerfile')
  hadolint "${dockerfiles[@]}" || rc=1
  # GitHub's own schemas, vendored in check-jsonschema: no download, so it runs offline too.
  mapfile -t workflows < <(git ls-files --cached --others --exclude-standard -- '.github/workflows/*.yml' 2>/dev/null)
  mapfile -t actions < <(git ls-files --cached --others --exclude-standard -- '.github/actions/*/action.yml' 2>/dev/null)
  if [ "${#workflows[@]}" -gt 0 ]; then
    say "GitHub workflow schema"; check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}" || rc=1
  fi
  if [ "${#actions[@]}" -gt 0 ]; then
    say "GitHub action schema"; check-jsonschema --builtin-schema vendor.github-actions "${actions[@]}" || rc=1
  fi
  if [ -d terraform ]; then
    if command -v terraform >/dev/null; then
      say "terraform fmt"; terraform fmt -check -recursive -diff terraform || rc=1
    else
      skip lint "terraform fmt: no terraform binary on PATH"
    fi
  fi
  return "$rc"
}

tier_scan() {
  local rc=0
  mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard -- '*Dockerfile')
  local f
  for f in "${dockerfiles[@]}"; do
    say "checkov: $f"; checkov --quiet --compact --skip-download --framework dockerfile -f "$f" || rc=1
  done
  if [ -d terraform ]; then
    say "checkov: terraform/"; checkov --quiet --compact --skip-download --framework terraform -d terraform || rc=1
  fi
  local workflow out
  for workflow in $(git ls-files --cached --others --exclude-standard -- '.github/workflows/*.yml'); do
    say "checkov: $workflow"
    out="$(checkov --quiet --compact --skip-download --framework github_actions -f "$workflow")" || rc=1
    printf '%s\n' "$out"
    # A workflow that checkov's own schema refuses is skipped silently, with exit 0: nothing scanned fails.
    if ! grep -Eq '(Passed|Failed) checks: [1-9]' <<<"$out"; then
      note "checkov scanned nothing in $workflow: its workflow schema refused the file"; rc=1
    fi
  done
  say "checkov: rendered workload manifests"
  local manifests; manifests="$(mktemp -d)"
  # A throwaway credentials folder: rendering generates secrets, and credentials/ must stay untouched.
  if ansible-playbook -i localhost, playbooks/render.yml -e render_dir="$manifests/out" \
       -e postgres_credentials_dir="$manifests/credentials" -e app_credentials_dir="$manifests/credentials" >/dev/null; then
    checkov --quiet --compact --skip-download --framework kubernetes -d "$manifests/out" || rc=1
  else
    note "rendering the manifests failed"; rc=1
  fi
  rm -rf "$manifests"
  return "$rc"
}

# Fast suites with no containers: the harness's own tests and the roles' argument validation
# (one negative case per validated argument). The other tests/ subfolders are tiers of their own.
tier_unit() {
  run_pytest unit tests/test_*.py tests/roles
}

# Rendered workload manifests: kubernetes-validate --strict, checkov, invariants, bad input, lab preflight.
tier_manifests() {
  run_pytest manifests tests/manifests -p no:cacheprovider
}

# The app suite twice: SQLite, then a real PostgreSQL that the session starts from the server
# binaries (installed from Debian when missing), unless DATABASE_URL/POSTGRES_HOST name a server.
# Coverage: both runs feed one data file; the floor (fail_under in pyproject.toml) is checked on the
# combined figure after the second run, whose XML and HTML reports land in $CACHE_DIR/coverage.
# nginx (Debian) for the tests of the image's front server, app/serve.py.
tier_app() {
  [ -n "${DATABASE_URL:-}${POSTGRES_HOST:-}" ] || ensure_postgres_server
  ensure_nginx
  local rc=0 coverage="$CACHE_DIR/coverage"
  rm -rf "$coverage"; mkdir -p "$coverage"
  export COVERAGE_FILE="$coverage/app.coverage"
  say "app tests on SQLite"
  run_pytest app-sqlite app/tests -p no:cacheprovider --db=sqlite --cov --cov-report= --cov-fail-under=0 || rc=1
  say "app tests on PostgreSQL, then coverage of both runs"
  run_pytest app-postgres app/tests -p no:cacheprovider --db=postgres --cov --cov-append \
    --cov-report=term --cov-report="xml:$coverage/coverage.xml" --cov-report="html:$coverage/html" || rc=1
  return "$rc"
}

# The database's operations against a real PostgreSQL (the server binaries, installed from Debian
# when missing) and the AWS emulator: k3s-pg-backup to S3 and back, damaged backups refused, the
# postgres role's node-side tasks (least privilege, password rotation) and backup/restore.yml,
# through a kubectl test double.
tier_database() {
  ensure_postgres_server
  run_pytest database tests/database -p no:cacheprovider
}

# Build the app image (offline: on a Debian Python base built locally), migrate, call the API.
tier_image() {
  scripts/ensure-docker.sh || return 1
  run_pytest image tests/image -p no:cacheprovider -m docker
}

# Terraform: fmt/validate, every variable validation, apply -> boto3 checks -> re-plan -> both
# inventories -> destroy, all against moto on loopback. Offline it needs TF_PROVIDER_MIRROR (found
# above); without a terraform binary pytest skips with the reason.
tier_terraform() {
  run_pytest terraform tests/terraform
}

# The deploy rehearsal (tests/rehearsal): terraform vs moto writes the inventory, scripts/deploy.sh
# runs the real site.yml on node containers at the emulator's addresses (k3s test double) after
# pushing the image to a loopback registry; it stops where a Kubernetes API is needed.
tier_rehearsal() {
  docker_ready || return 1
  apt_install docker-registry apache2-utils
  # Its own temporary root: pytest prunes the numbered ones of other sessions of this user.
  run_pytest rehearsal tests/rehearsal -p no:cacheprovider -m docker --basetemp "$CACHE_DIR/rehearsal"
}

# Every Molecule scenario of every role, and the repository-level ones except `cluster`, which
# needs a real k3s and has a tier of its own.
tier_roles() {
  docker_ready || return 1
  local rc=0 scenario_file dir scenario
  for scenario_file in roles/*/molecule/*/molecule.yml molecule/*/molecule.yml; do
    [ -f "$scenario_file" ] || continue
    dir="$(dirname "$(dirname "$(dirname "$scenario_file")")")"
    scenario="$(basename "$(dirname "$scenario_file")")"
    [ "$dir" = "." ] && [ "$scenario" = cluster ] && continue
    say "molecule test -s $scenario ($dir)"
    local start=$SECONDS
    if (cd "$dir" && molecule test -s "$scenario"); then
      note "molecule scenario $scenario in $dir passed ($((SECONDS - start)) s)"
    else
      rc=1; note "FAILED: molecule scenario $scenario in $dir"
    fi
  done
  return "$rc"
}

k3s_available() {
  [ -n "${K3S_AIRGAP_DIR:-}" ] && return 0
  curl -fsS --max-time 5 -o /dev/null https://github.com 2>/dev/null
}

tier_cluster() {
  if ! k3s_available; then
    skip cluster "k3s cannot be downloaded here and K3S_AIRGAP_DIR is not set: site.yml on real k3s, NodePort 30800 on every node and data surviving a Postgres pod restart are NOT proven by this run (they run in GitHub Actions)"
    return "$SKIPPED"
  fi
  docker_ready || return 1
  molecule test -s cluster
}

tiers=("$@")
[ "${#tiers[@]}" -gt 0 ] || tiers=("${ALL_TIERS[@]}")
for tier in "${tiers[@]}"; do
  declare -F "tier_$tier" >/dev/null || die "unknown tier '$tier' (tiers: ${ALL_TIERS[*]})"
done

for tier in "${tiers[@]}"; do
  say "Tier: $tier"
  start=$SECONDS
  "tier_$tier"
  case $? in
    0) result=passed ;;
    "$SKIPPED") result=skipped; [ "$REQUIRE_ALL_TIERS" = 1 ] && { result=FAILED; FAILED=1; } ;;
    *) result=FAILED; FAILED=1 ;;
  esac
  RESULTS+=("$tier $result $((SECONDS - start))")
done

printf '\n\033[1m==> Summary\033[0m\n' >&2
for line in "${RESULTS[@]}"; do
  read -r tier result secs <<<"$line"
  printf '    %-10s %-7s %4ss\n' "$tier" "$result" "$secs" >&2
done
require=()
[ "$REQUIRE_ALL_TIERS" = 1 ] && require=(--require)
python "$REPO_ROOT/scripts/report-skips.py" "${require[@]}" "$REPORTS" "${SKIPS[@]}" >&2 || FAILED=1
exit "$FAILED"
