#!/usr/bin/env bash
# Builds the authgate OCI image FROM scratch around a release binary, without a daemon and
# without the network (buildah), then starts it and checks that it serves and passes its own
# healthcheck. The image holds the same things as the Dockerfile's runtime stage: the binary,
# the shared libraries it links (read off `ldd`), CA certificates, a non-root user 10001, /data,
# AUTHGATE_LISTEN=0.0.0.0:8080, the SQLite default under /data, JSON logs, and the healthcheck.
#
#   deploy/image/build.sh target/release/authgate [tag]
set -euo pipefail
bin=${1:?usage: build.sh path/to/authgate [tag]}
tag=${2:-localhost/authgate:ci}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot BUILDAH_FORMAT=docker
max_bytes=$((64 * 1024 * 1024))

ctr=$(buildah from scratch)
cleanup() { buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
root=$(buildah mount "$ctr")

install -D -m 0755 "$bin" "$root/usr/local/bin/authgate"
# Every library the binary loads, at the path the loader looks for it, and the loader itself.
for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\s*\/.*ld-linux/ {print $1}'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$root/etc" "$root/data" "$root/tmp"
printf 'root:x:0:0::/:/sbin/nologin\nauthgate:x:10001:10001::/data:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nauthgate:x:10001:\n' > "$root/etc/group"
chown 10001:10001 "$root/data"
chmod 1777 "$root/tmp"
bytes=$(du -sb "$root" | cut -f1)
buildah umount "$ctr" >/dev/null
echo "image contents: $bytes bytes"
[ "$bytes" -lt "$max_bytes" ] || { echo "the image grew past $max_bytes bytes" >&2; exit 1; }

buildah config \
  --user 10001:10001 --workingdir /data --port 8080 \
  --env AUTHGATE_LISTEN=0.0.0.0:8080 \
  --env AUTHGATE_DATABASE_URL=sqlite:///data/authgate.db \
  --env AUTHGATE_LOG_FORMAT=json \
  --entrypoint '["/usr/local/bin/authgate"]' --cmd serve \
  --healthcheck 'CMD ["/usr/local/bin/authgate", "healthcheck"]' \
  --label org.opencontainers.image.title=authgate \
  --label 'org.opencontainers.image.licenses=MIT OR Apache-2.0' \
  "$ctr"
buildah commit --quiet --format docker "$ctr" "$tag" >/dev/null
size=$(buildah inspect --type image --format '{{.FromImageDigest}}' "$tag" >/dev/null; buildah images --noheading --format '{{.Size}}' "$tag")
echo "image $tag: $size"

# Run it: the image's own entrypoint, user and environment, on a free port of the host network.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run=$(buildah from "$tag")
trap 'buildah rm "$run" >/dev/null 2>&1 || true; cleanup' EXIT
buildah run --env AUTHGATE_LISTEN="127.0.0.1:$port" "$run" -- /usr/local/bin/authgate serve > /tmp/authgate-image.log 2>&1 &
pid=$!
# Up to a minute for the first start (migrations on a cold disk; CI machines are busy), then
# the image's own healthcheck, run inside a second container on the same network.
ok=
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
healthy=
if [ -n "$ok" ] && buildah run --env AUTHGATE_LISTEN="127.0.0.1:$port" "$run" -- /usr/local/bin/authgate healthcheck; then
  healthy=1
fi
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -z "$ok" ] || [ -z "$healthy" ]; then
  echo "the image did not become healthy (served: ${ok:-no}, healthcheck: ${healthy:-no}); its log:" >&2
  cat /tmp/authgate-image.log >&2
  exit 1
fi
echo "image runs: /healthz answered and its healthcheck passed"
