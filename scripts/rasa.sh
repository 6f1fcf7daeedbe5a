#!/usr/bin/env bash
# Rasa Open Source 3.6.21 (Python 3.10): Frontline's NLU server, behind the HTTP adapter.
#   install          .rasa-venv from pyenv 3.10.13 + rasa==3.6.21 (no-op when present)
#   train [--force]  data/nlu/*.yml + nlu/rasa/config.yml -> var/rasa/models/frontline-nlu.tar.gz
#                    (skipped while the hash of data and config is unchanged)
#   serve [PORT]     foreground server (port 5005)
#   start [PORT]     background server (var/rasa/rasa.pid, var/rasa/rasa.log); waits until it answers
#   stop | status
# Optional env: RASA_PYTHON, RASA_HOST (127.0.0.1), RASA_PORT (5005), RASA_AUTH_TOKEN,
# RASA_NLU_DATA (data/nlu), RASA_START_TIMEOUT (120 s).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

RASA_VERSION="3.6.21"
VENV="$ROOT/.rasa-venv"
RASA_BIN="$VENV/bin/rasa"
CONFIG="nlu/rasa/config.yml"
NLU_DATA="${RASA_NLU_DATA:-data/nlu}"
STATE_DIR="var/rasa"
MODEL_DIR="$STATE_DIR/models"
MODEL_NAME="frontline-nlu"
MODEL="$MODEL_DIR/$MODEL_NAME.tar.gz"
HASH_FILE="$MODEL_DIR/$MODEL_NAME.sha256"
PID_FILE="$STATE_DIR/rasa.pid"
PORT_FILE="$STATE_DIR/rasa.port"
LOG_FILE="$STATE_DIR/rasa.log"
HOST="${RASA_HOST:-127.0.0.1}"
START_TIMEOUT="${RASA_START_TIMEOUT:-120}"

export RASA_TELEMETRY_ENABLED=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# Training cache (default ./.rasa/cache) lives with the other runtime state.
export RASA_CACHE_DIRECTORY="${RASA_CACHE_DIRECTORY:-$ROOT/$STATE_DIR/cache}"
# matplotlib (imported by rasa) wants a writable config dir; do not depend on HOME.
export MPLCONFIGDIR="${MPLCONFIGDIR:-$ROOT/$STATE_DIR/mpl}"
# keras writes ~/.keras unless told otherwise (rasa still writes ~/.config/rasa/global.yml once).
export KERAS_HOME="${KERAS_HOME:-$ROOT/$STATE_DIR/keras}"

log() { printf 'rasa.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- install
find_python310() {
    if [[ -n "${RASA_PYTHON:-}" ]]; then
        echo "$RASA_PYTHON"; return
    fi
    local root
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    if [[ -x "$root/versions/3.10.13/bin/python3.10" ]]; then
        echo "$root/versions/3.10.13/bin/python3.10"; return
    fi
    command -v python3.10 || die "no Python 3.10 found (install pyenv 3.10.13 or set RASA_PYTHON)"
}

venv_ok() {
    [[ -x "$VENV/bin/python" ]] &&
        "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null
}

rasa_installed_version() {
    [[ -x "$RASA_BIN" ]] || return 0
    "$RASA_BIN" --version 2>/dev/null | awk -F: '/^Rasa Version/ {gsub(/[ \t]/, "", $2); print $2}' || true
}

cmd_install() {
    if ! venv_ok; then
        local py
        py="$(find_python310)"
        log "creating $VENV with $py"
        rm -rf "$VENV"
        "$py" -m venv "$VENV"
    fi
    local have
    have="$(rasa_installed_version)"
    if [[ "$have" == "$RASA_VERSION" ]]; then
        log "rasa $RASA_VERSION already installed in $VENV"
        return 0
    fi
    log "installing rasa==$RASA_VERSION into $VENV (≈2 min, ≈2.7 GB)"
    local start=$SECONDS
    "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    "$VENV/bin/python" -m pip install --quiet "rasa==$RASA_VERSION" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    have="$(rasa_installed_version)"
    [[ "$have" == "$RASA_VERSION" ]] || die "after install, rasa --version reports '${have:-nothing}'"
    log "installed rasa $RASA_VERSION in $((SECONDS - start)) s"
}

require_rasa() {
    [[ -x "$RASA_BIN" ]] || die "$RASA_BIN missing; run scripts/rasa.sh install"
}

# ---------------------------------------------------------------- train
data_files() {
    find "$NLU_DATA" -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) -print | LC_ALL=C sort
}

inputs_hash() {
    {
        echo "rasa $RASA_VERSION"
        local f
        for f in "$CONFIG" $(data_files); do
            printf '%s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(basename "$f")"
        done
    } | sha256sum | cut -d' ' -f1
}

cmd_train() {
    local force=0
    [[ "${1:-}" == "--force" ]] && force=1
    require_rasa
    [[ -f "$CONFIG" ]] || die "$CONFIG missing"
    [[ -d "$NLU_DATA" ]] || die "$NLU_DATA missing"
    [[ -n "$(data_files)" ]] || die "no *.yml in $NLU_DATA"
    mkdir -p "$MODEL_DIR"
    exec 9>"$STATE_DIR/train.lock"  # one training at a time; the next caller then finds it up to date
    flock 9
    local hash
    hash="$(inputs_hash)"
    if [[ $force -eq 0 && -f "$MODEL" && -f "$HASH_FILE" && "$(cat "$HASH_FILE")" == "$hash" ]]; then
        log "model $MODEL is up to date (data and config unchanged); use 'train --force' to retrain"
        return 0
    fi
    log "training $MODEL from $NLU_DATA with $CONFIG"
    local start=$SECONDS tmp="$MODEL_DIR/.train-$$"
    rm -rf "$tmp"
    "$RASA_BIN" train nlu --config "$CONFIG" --nlu "$NLU_DATA" --out "$tmp" --fixed-model-name "$MODEL_NAME"
    [[ -f "$tmp/$MODEL_NAME.tar.gz" ]] || die "training finished but no model in $tmp"
    rm -f "$HASH_FILE"
    mv -f "$tmp/$MODEL_NAME.tar.gz" "$MODEL"  # atomic: a starting server never sees half a file
    rm -rf "$tmp"
    echo "$hash" > "$HASH_FILE"
    log "trained in $((SECONDS - start)) s: $MODEL ($(du -h "$MODEL" | cut -f1))"
}

# ---------------------------------------------------------------- serve / start / stop
run_args() {
    local port="$1"
    RUN_ARGS=(run --enable-api -i "$HOST" --port "$port" -m "$MODEL")
    if [[ -n "${RASA_AUTH_TOKEN:-}" ]]; then
        RUN_ARGS+=(--auth-token "$RASA_AUTH_TOKEN")
    fi
}

require_model() {
    [[ -f "$MODEL" ]] || die "$MODEL missing; run scripts/rasa.sh train"
}

cmd_serve() {
    local port="${1:-${RASA_PORT:-5005}}"
    require_rasa
    require_model
    run_args "$port"
    exec "$RASA_BIN" "${RUN_ARGS[@]}"
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    grep -q rasa "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

answers() {
    local port="$1"
    local url="http://127.0.0.1:$port"
    [[ "$HOST" != "0.0.0.0" && "$HOST" != "127.0.0.1" ]] && url="http://$HOST:$port"
    local auth=()
    [[ -n "${RASA_AUTH_TOKEN:-}" ]] && auth=(--get --data-urlencode "token=$RASA_AUTH_TOKEN")
    # /status needs --enable-api and reports the loaded model; "/" answers as soon as the server is up.
    curl -fsS -m 3 "${auth[@]}" "$url/status" >/dev/null 2>&1 || curl -fsS -m 3 "$url/" >/dev/null 2>&1
}

cmd_start() {
    local port="${1:-${RASA_PORT:-5005}}"
    require_rasa
    require_model
    mkdir -p "$STATE_DIR"
    local pid
    if pid="$(running_pid)"; then
        log "already running (pid $pid, port $(cat "$PORT_FILE" 2>/dev/null || echo '?'))"
        return 0
    fi
    run_args "$port"
    log "starting rasa on $HOST:$port (log $LOG_FILE)"
    setsid "$RASA_BIN" "${RUN_ARGS[@]}" >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" > "$PID_FILE"
    echo "$port" > "$PORT_FILE"
    local start=$SECONDS
    while (( SECONDS - start < START_TIMEOUT )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE" "$PORT_FILE"
            tail -n 30 "$LOG_FILE" >&2 || true
            die "rasa exited during start-up (see $LOG_FILE)"
        fi
        if answers "$port"; then
            log "rasa is up after $((SECONDS - start)) s (pid $pid, port $port)"
            return 0
        fi
        sleep 1
    done
    tail -n 30 "$LOG_FILE" >&2 || true
    log "rasa did not answer within $START_TIMEOUT s; stopping it"
    cmd_stop
    exit 1
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$PORT_FILE"
        return 0
    fi
    log "stopping rasa (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

cmd_status() {
    local pid port
    if pid="$(running_pid)"; then
        port="$(cat "$PORT_FILE" 2>/dev/null || echo 5005)"
        if answers "$port"; then
            echo "running (pid $pid, port $port), answering"
        else
            echo "running (pid $pid, port $port), not answering yet"
        fi
    else
        echo "not running"
        return 3
    fi
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

main() {
    local sub="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$sub" in
        install) cmd_install "$@" ;;
        train) cmd_train "$@" ;;
        serve) cmd_serve "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        *) usage ;;
    esac
}

# Keep the call on the last line, after an all-# line: bash reads a script while running it.
############################################################################################################################################################################################################################
main "$@"; exit
