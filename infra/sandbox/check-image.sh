#!/usr/bin/env bash
# Builds the Python sandbox service's image (infra/sandbox/Dockerfile) with podman, runs it with the least
# privileges infra/README.md documents, and calls it as the Worker does (POST /run_code with a bearer key).
# Then it shows that the two settings a default container lacks are needed: with /proc masked, or with
# podman's default seccomp profile, the service refuses to start and says why. Exits non-zero on any failure.
#
#   infra/sandbox/check-image.sh            # as root, from anywhere in the checkout; takes minutes
#
# Without registry access the base image is made locally (infra/local-base.sh) when podman cannot pull it.
# IMAGE (default localhost/cir-sandbox:check) names the image built; it and the base are left in podman's
# store (podman rmi to remove them).
set -euo pipefail

cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-localhost/cir-sandbox:check}
BASE=docker.io/library/node:20-bookworm-slim
KEY=check-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
CODE='import sympy; print(sympy.factorint(360))'
EXPECTED='{2: 3, 3: 2, 5: 1}'

fail() { echo "check-image.sh: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (rootful podman)"
for tool in podman curl node; do command -v "$tool" >/dev/null || fail "$tool not found"; done

# What this host needs from podman beyond the defaults (both measured on a VM with cgroup v1 + v2 "hybrid"
# and a root without CAP_SYS_RESOURCE; on an ordinary host neither applies).
podman=(podman)
limits=()
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  # crun refuses a hybrid cgroup layout whose v2 hierarchy has controllers; runc runs there.
  command -v runc >/dev/null || fail "cgroup v1+v2 hybrid with v2 controllers: crun cannot run here; apt-get install runc"
  podman+=(--runtime runc)
fi
if ! (ulimit -Hn 1048576) 2>/dev/null; then
  # Rootful podman raises the container's open-files and processes limits to 1048576, which needs
  # CAP_SYS_RESOURCE: without it, ask for what this host allows (processes: at most pid_max).
  nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
  limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc")
fi

containers=()
cleanup() { for c in ${containers[@]+"${containers[@]}"}; do podman rm -f "$c" >/dev/null 2>&1 || true; done; rm -f "${seccomp_profile:-}"; }
trap cleanup EXIT

echo "== base image $BASE"
if ! podman image exists "$BASE" && ! podman pull -q "$BASE" >/dev/null 2>&1; then
  echo "cannot pull it: making the local stand-in (infra/local-base.sh)"
  infra/local-base.sh "$BASE"
fi

echo "== podman build -f infra/sandbox/Dockerfile -t $IMAGE ."
started=$(date +%s)
"${podman[@]}" build ${limits[@]+"${limits[@]}"} -f infra/sandbox/Dockerfile -t "$IMAGE" . >/tmp/cir-check-image-build.log 2>&1 \
  || { tail -30 /tmp/cir-check-image-build.log >&2; fail "podman build (log: /tmp/cir-check-image-build.log)"; }
echo "built in $(($(date +%s) - started)) s; image size $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec-i --suffix=B)"

# docker run's flags of infra/README.md in podman's words: systempaths=unconfined is unmask=ALL; podman's
# --tmpfs takes no uid=, its U option gives the mount to the container's user.
least=(--user 10001 --cap-drop ALL --security-opt no-new-privileges --security-opt apparmor=unconfined
  --read-only --tmpfs /tmp --tmpfs /var/lib/cir:U -e CIR_API_KEYS="$KEY")

# podman's default seccomp profile (containers-common) allows the namespace calls, but sethostname only with
# CAP_SYS_ADMIN, and bwrap names each sandbox's host: that profile plus sethostname is enough.
seccomp_profile=$(mktemp /tmp/cir-seccomp.XXXXXX.json)
node -e '
  const fs = require("node:fs");
  const profile = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  for (const rule of profile.syscalls) rule.names = rule.names.filter((name) => name !== "sethostname");
  profile.syscalls = profile.syscalls.filter((rule) => rule.names.length > 0);
  profile.syscalls.push({ names: ["sethostname"], action: "SCMP_ACT_ALLOW", comment: "bwrap --hostname in its new UTS namespace" });
  fs.writeFileSync(process.argv[2], JSON.stringify(profile));
' /usr/share/containers/seccomp.json "$seccomp_profile"

# Starts the service detached as container $1; returns once it is listening, or fails with its log.
start() {
  local name=$1; shift
  containers+=("$name")
  podman rm -f "$name" >/dev/null 2>&1 || true
  "${podman[@]}" run -d --name "$name" ${limits[@]+"${limits[@]}"} -p 127.0.0.1::8080 "$@" "$IMAGE" >/dev/null
  until [[ "$(podman logs "$name" 2>&1)" == *'cir listening on'* ]]; do
    [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || { podman logs "$name" >&2; fail "$name exited before listening"; }
    sleep 0.5
  done
}

# POST /run_code as the Worker's SandboxFusion client does; checks the answer, prints it and the latencies.
run_code() {
  local url="http://$(podman port "$1" 8080/tcp)" answer times=()
  for _ in 1 2 3 4 5; do
    answer=$(curl -sS -w '\n%{http_code} %{time_total}' "$url/run_code" -H "authorization: Bearer $KEY" \
      -H 'content-type: application/json' -d "$(node -e 'console.log(JSON.stringify({ language: "python", code: process.argv[1] }))' "$CODE")")
    local status=${answer##*$'\n'} body=${answer%$'\n'*}
    [ "${status% *}" = 200 ] || fail "/run_code answered $status: $body"
    node -e 'const r = JSON.parse(process.argv[1]); if (r.status !== "Success" || r.run_result.stdout !== process.argv[2] + "\n") process.exit(1)' "$body" "$EXPECTED" \
      || fail "/run_code did not print $EXPECTED: $body"
    times+=("${status#* }")
  done
  echo "/run_code -> $body"
  echo "latency (s, 5 calls): ${times[*]}"
  local unauthorized
  unauthorized=$(curl -s -o /dev/null -w '%{http_code}' "$url/run_code" -H 'content-type: application/json' -d '{"language":"python","code":"print(1)"}')
  [ "$unauthorized" = 401 ] || fail "/run_code without a key answered $unauthorized, not 401"
}

# Runs the service in the foreground where it must not start; checks that it says why.
refuses() {
  local what=$1 reason=$2 output; shift 2
  output=$(timeout 300 "${podman[@]}" run --rm ${limits[@]+"${limits[@]}"} "$@" "$IMAGE" 2>&1) && fail "it started $what"
  grep -q "$reason" <<<"$output" || { echo "$output" >&2; fail "$what: expected '$reason'"; }
  echo "$what: does not start: $(grep -m1 '^Error:' <<<"$output")"
}

echo "== documented least privileges (seccomp=unconfined, unmask=ALL)"
started=$(date +%s)
start cir-check-least "${least[@]}" --security-opt seccomp=unconfined --security-opt unmask=ALL
echo "listening $(($(date +%s) - started)) s after podman run"
podman exec cir-check-least grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs)' /proc/1/status | tr '\n' ' '; echo
run_code cir-check-least

echo "== podman's default seccomp profile plus sethostname, only /proc unmasked"
start cir-check-profile "${least[@]}" --security-opt seccomp="$seccomp_profile" --security-opt 'unmask=/proc/*'
run_code cir-check-profile

echo "== without the settings bubblewrap needs"
refuses "with /proc masked" "Can't mount proc on /newroot/proc: Operation not permitted" "${least[@]}" --security-opt seccomp=unconfined
refuses "with podman's default seccomp" "Can't set hostname to sandbox: Operation not permitted" "${least[@]}" --security-opt unmask=ALL

echo "OK: $IMAGE built and serves /run_code with least privileges ($(podman --version))"
