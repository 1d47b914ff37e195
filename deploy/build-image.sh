#!/usr/bin/env bash
# Build the ticker's image from deploy/Dockerfile: with docker where a Docker engine
# answers, else with buildah in the Docker image format (buildah's default, OCI, has no
# HEALTHCHECK and silently drops it).
#
#   deploy/build-image.sh [TAG]        default TAG: ticker:<version in ticker/__init__.py>
#
# PYTHON_IMAGE overrides the base image (see deploy/Dockerfile); BUILDAH_ISOLATION picks
# buildah's isolation (default chroot, which also works inside an unprivileged container).
# BUILD_CA_BUNDLE (buildah only): a CA bundle that the build's RUN steps see as the system
# one, for a build machine whose HTTPS goes through an intercepting proxy; it is mounted
# for the build, never copied into the image.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' ticker/__init__.py)
tag="${1:-ticker:$version}"
args=(--file deploy/Dockerfile --tag "$tag")
if [ -n "${PYTHON_IMAGE:-}" ]; then
    args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
fi

start=$(date +%s)
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    DOCKER_BUILDKIT=1 docker build "${args[@]}" .
    size="$(($(docker image inspect --format '{{.Size}}' "$tag") / 1000000)) MB"
elif command -v buildah >/dev/null 2>&1; then
    if [ -n "${BUILD_CA_BUNDLE:-}" ]; then
        args+=(--volume "$(realpath "$BUILD_CA_BUNDLE"):/etc/ssl/certs/ca-certificates.crt:ro")
    fi
    buildah build --format docker --layers --isolation "${BUILDAH_ISOLATION:-chroot}" \
        --ignorefile deploy/Dockerfile.dockerignore "${args[@]}" .
    size=$(buildah images --noheading --format '{{.Size}}' "$tag" | head -n 1)
else
    echo "build-image.sh: no running Docker engine and no buildah here; install buildah" \
        "(apt-get install buildah) or start Docker, then run this again." >&2
    exit 1
fi
echo "build-image.sh: built $tag in $(($(date +%s) - start)) s ($size)"
