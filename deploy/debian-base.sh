#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image (python:3.11-slim-bookworm), made from
# Debian 12 packages with debootstrap, for machines that can reach a Debian mirror but
# not a container registry. Needs root, debootstrap and buildah.
#
#   deploy/debian-base.sh [TAG]     default TAG: localhost/ticker-python-base:bookworm
#   PYTHON_IMAGE=localhost/ticker-python-base:bookworm deploy/build-image.sh
#
# What differs from the official image: Python is Debian's 3.11 (/usr/bin/python, from
# python-is-python3) instead of a python.org build in /usr/local; the rest of the Dockerfile
# (venv, pip, groupadd/useradd) runs unchanged on it.
set -euo pipefail
tag="${1:-localhost/ticker-python-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rootfs="$(mktemp -d /tmp/ticker-base.XXXXXX)"
ctr=""
cleanup() {
    if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
    rm -rf "$rootfs"
}
trap cleanup EXIT

start=$(date +%s)
debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$mirror"
# Slim like the official image: no package lists, caches, docs or man pages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*

ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
tar -C "$rootfs" -cf - . | tar -C "$mnt" -xf -
buildah umount "$ctr" >/dev/null
buildah config --env LANG=C.UTF-8 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["python3"]' "$ctr"
buildah commit --format docker --quiet "$ctr" "$tag" >/dev/null
echo "debian-base.sh: $tag built from Debian packages in $(($(date +%s) - start)) s" \
    "($(buildah images --noheading --format '{{.Size}}' "$tag" | head -n 1))"
