#!/usr/bin/env bash
# Property-based API testing: schemathesis (from PyPI, in .venv) against the OpenAPI document a
# freshly started `hookledger serve` publishes at /openapi.json. Fails on any 5xx answer, any
# answer whose status, content type or body the document does not describe.
#
#   scripts/schemathesis.sh            run (scripts/test runs it after the suite)
#
# Needs the services scripts/test exports: HOOKLEDGER_TEST_DATABASE_URL (a role that may create
# databases) and HOOKLEDGER_TEST_NATS_SERVER_BIN (nats-server >= 2.12). The server gets a fresh
# database and a nats-server of its own (temporary store), both removed at the end.
# Knobs: SCHEMATHESIS_SEED (42), SCHEMATHESIS_MAX_EXAMPLES (25 per operation).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)
cd "$root"

: "${HOOKLEDGER_TEST_DATABASE_URL:?run through scripts/test, or export HOOKLEDGER_TEST_DATABASE_URL}"
nats_bin=${HOOKLEDGER_TEST_NATS_SERVER_BIN:-nats-server}
seed=${SCHEMATHESIS_SEED:-42}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}
schemathesis_version=4.32.5
need python3
need psql "the PostgreSQL client"

step "schemathesis $schemathesis_version in .venv"
if ! .venv/bin/schemathesis --version 2>/dev/null | grep -q "$schemathesis_version"; then
  [[ -x .venv/bin/pip ]] || python3 -m venv .venv
  .venv/bin/pip install --quiet "schemathesis==$schemathesis_version"
fi

step "cargo build -p hookledger-api"
cargo build --quiet -p hookledger-api

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_id="st$(date +%s)$$"
work=target/schemathesis
mkdir -p "$work"
rm -rf "$work/nats-$run_id" "$work/report"
nats_port=$(free_port)
api_port=$(free_port)
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(u.urlunparse(p._replace(path="/" + sys.argv[2])))' "$HOOKLEDGER_TEST_DATABASE_URL" "$run_id")
operator_token="schemathesis-operator-token-$run_id"
nats_pid='' server_pid=''

cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n $nats_pid ]] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  psql -q "$HOOKLEDGER_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$run_id\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work/nats-$run_id"
}
trap cleanup EXIT

step "services: nats-server on :$nats_port, database $run_id"
"$nats_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats-$run_id" >"$work/nats.log" 2>&1 &
nats_pid=$!
wait_for_port 127.0.0.1 "$nats_port" 20 nats-server "$work/nats.log" "$nats_pid"
psql -q "$HOOKLEDGER_TEST_DATABASE_URL" -c "CREATE DATABASE \"$run_id\"" >/dev/null

step "hookledger serve on :$api_port"
HOOKLEDGER_HTTP__LISTEN="127.0.0.1:$api_port" \
  HOOKLEDGER_HTTP__OPERATOR_TOKEN="$operator_token" \
  HOOKLEDGER_HTTP__RATE_LIMIT_PER_SECOND=0 \
  HOOKLEDGER_NATS__URL="nats://127.0.0.1:$nats_port" \
  HOOKLEDGER_POSTGRES__URL="$db_url" \
  HOOKLEDGER_SECRETS__MASTER_KEY="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')" \
  HOOKLEDGER_DISPATCHER__ALLOW_PRIVATE_TARGETS=true \
  HOOKLEDGER_LOG__FILTER="hookledger=warn" \
  target/debug/hookledger serve >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_port 127.0.0.1 "$api_port" 60 hookledger "$work/server.log" "$server_pid"

step "a tenant, its key and an event type"
api_key=$(python3 - "$api_port" "$operator_token" <<'EOF'
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
def call(path, body, headers):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
key = call("/v1/admin/tenants", {"id": "schemathesis"}, {"authorization": f"Bearer {token}"})["apiKey"]["key"]
call("/v1/event-types", {"name": "lead.created"}, {"x-api-key": key})
print(key)
EOF
)

step "schemathesis run (seed $seed, at most $max_examples examples per operation)"
status=0
.venv/bin/schemathesis run "http://127.0.0.1:$api_port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --seed "$seed" \
  --max-examples "$max_examples" \
  --phases examples,coverage,fuzzing \
  --workers 2 \
  --request-timeout 20 \
  --generation-database none \
  --generation-with-security-parameters false \
  --header "x-api-key: $api_key" \
  --header "Authorization: Bearer $operator_token" \
  --report junit --report-dir "$work/report" \
  --no-color || status=$?
if [[ $status -ne 0 ]]; then
  warn "schemathesis found problems (exit $status); server log: $work/server.log"
  show_log_tail "$work/server.log" 40
fi
exit "$status"
