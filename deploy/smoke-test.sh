#!/usr/bin/env bash
# Try a built image: start it with no REDIS_URL (embedded Valkey), check that /healthz,
# /widget.js and /desk/login answer 200, that the image declares its HEALTHCHECK and that
# the check passes inside the running container, that it runs as uid 10001, then stop it
# with SIGTERM and check that it shut down cleanly. Exits 1 on any failure.
#
#   deploy/smoke-test.sh [IMAGE]       default IMAGE: ticker:<version in ticker/__init__.py>
#
# Runs the image with the first of these that works here (SMOKE_RUNNER picks one):
#   docker   a Docker engine: read-only root, a tmpfs /tmp, the port published;
#   podman   the same with podman;
#   buildah  `buildah run --isolation chroot` on a working container of the image: the
#            image's file system, environment, user and working folder, the host's
#            network (for machines that can build but cannot run containers).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' ticker/__init__.py)
image="${1:-ticker:$version}"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log="$(mktemp /tmp/ticker-smoke.XXXXXX.log)"
name="ticker-smoke-$$"
runner_pid=""
runner=""

say() { echo "smoke-test: $*"; }
fail() {
    echo "smoke-test: FAILED: $*" >&2
    sed 's/^/  container: /' "$log" >&2 || true
    exit 1
}

pick_runner() {
    if [ -n "${SMOKE_RUNNER:-}" ]; then
        echo "$SMOKE_RUNNER"
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null 2>&1 && podman run --rm "$image" true >/dev/null 2>&1; then
        echo podman
    elif command -v buildah >/dev/null 2>&1; then
        echo buildah
    else
        fail "nothing here can run $image: start Docker, or install podman or buildah"
    fi
}

descendants() {
    local kid
    for kid in $(pgrep -P "$1" || true); do
        echo "$kid"
        descendants "$kid"
    done
}

# SIGTERM to the container's main process, as `docker stop` sends it; 0 if it exited 0.
stop_container() {
    case "$runner" in
        docker | podman)
            "$runner" stop --time 15 "$name" >/dev/null 2>&1 || return 1
            [ "$("$runner" inspect --format '{{.State.ExitCode}}' "$name")" = 0 ]
            ;;
        buildah)
            [ -n "$runner_pid" ] || return 1
            # `buildah run` does not pass signals on (it kills its child): signal
            # `ticker serve` itself, under buildah's chroot helpers.
            local pid serve=""
            for pid in $(descendants "$runner_pid"); do
                [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ticker ] && serve=$pid && break
            done
            [ -n "$serve" ] || return 1
            kill -TERM "$serve"
            local status=0
            wait "$runner_pid" || status=$?
            runner_pid=""
            [ "$status" = 0 ]
            ;;
    esac
}

cleanup() {
    case "$runner" in
        docker | podman)
            "$runner" rm --force "$name" >/dev/null 2>&1 || true
            ;;
        buildah)
            if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
                kill -TERM "$runner_pid" 2>/dev/null || true
                for _ in $(seq 75); do kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.2; done
                kill -KILL "$runner_pid" 2>/dev/null || true
            fi
            buildah rm "$name" >/dev/null 2>&1 || true
            ;;
    esac
    rm -f "$log"
}
trap cleanup EXIT

runner=$(pick_runner)
say "running $image with $runner on port $port"
case "$runner" in
    docker | podman)
        health=$("$runner" image inspect --format '{{json .Config.Healthcheck}}' "$image")
        "$runner" run --detach --name "$name" --read-only --tmpfs /tmp \
            --tmpfs /var/lib/ticker:uid=10001,gid=10001,mode=0750 \
            --publish "127.0.0.1:$port:8000" "$image" >/dev/null
        user=$("$runner" exec "$name" id -u)
        check_health() { "$runner" exec "$name" python /opt/ticker/healthcheck.py; }
        logs() { "$runner" logs "$name" >"$log" 2>&1 || true; }
        ;;
    buildah)
        health=$(buildah inspect --type image --format '{{.Docker.Config.Healthcheck}}' "$image")
        buildah from --name "$name" "$image" >/dev/null
        # The image's CMD, as the container engine would run it.
        cmd=$(buildah inspect --type image --format '{{range .Docker.Config.Cmd}}{{.}} {{end}}' "$image")
        # shellcheck disable=SC2086 # CMD is a list of plain words: ticker serve
        buildah run --isolation chroot --env "TICKER_PORT=$port" "$name" -- $cmd >"$log" 2>&1 &
        runner_pid=$!
        user=$(buildah run --isolation chroot "$name" -- id -u)
        check_health() { buildah run --isolation chroot --env "TICKER_PORT=$port" "$name" -- python /opt/ticker/healthcheck.py; }
        logs() { :; }
        ;;
    *) fail "unknown SMOKE_RUNNER '$runner' (docker, podman or buildah)" ;;
esac

case "$health" in
    *healthcheck.py*) say "HEALTHCHECK declared: $health" ;;
    *) fail "the image declares no HEALTHCHECK (built in OCI format?): $health" ;;
esac
[ "$user" = 10001 ] || fail "the image runs as uid $user, not 10001"

ready=""
for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; then ready=1; break; fi
    if [ -n "$runner_pid" ] && ! kill -0 "$runner_pid" 2>/dev/null; then break; fi
    sleep 0.2
done
logs
[ -n "$ready" ] || fail "$base/healthz did not answer within 60 s"

for path in /healthz /widget.js /desk/login; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$base$path") || code=none
    [ "$code" = 200 ] || fail "GET $path answered $code, expected 200"
    say "GET $path: 200"
done
check_health || fail "the HEALTHCHECK command failed inside the container"
say "HEALTHCHECK command: exit 0; runs as uid $user"
stop_container || { logs; fail "the container did not exit 0 on SIGTERM"; }
logs
grep -q "Application shutdown complete" "$log" || fail "no clean shutdown in the container's log"
say "SIGTERM: clean shutdown, exit 0"
say "passed"
