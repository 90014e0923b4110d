#!/usr/bin/env bash
# Build an image and prove it works, with no network, data mounted read-only, as the invoking user.
#   DEVICE=cpu (default): the smoke study runs inside it, results into a fresh host folder; on the
#     host the runs must be in the store, owned by that user, and `bench report` in the image must
#     write the site and the PDF.
#   DEVICE=cuda: everything that needs no GPU: the entry point refuses `bench run` in one line
#     without a GPU, torch is a CUDA build, `bench plan --device cuda` lists the q2 cells, and
#     `bench report` renders the committed study (results/) to a site and a PDF.
# Prints the image's size. Uses docker when an engine answers, else podman (set up by
# ../shared/containers/prepare.sh when it is there and we are root).
#
# Env: DEVICE, DATA (default: BENCH_DATA_DIR or ../shared/data), IMAGE (default bench:$DEVICE-test),
#      TORCH_INDEX_URL (default empty: pip's default index, the only one these machines reach;
#      set it to https://download.pytorch.org/whl/cpu elsewhere for a much smaller image),
#      KEEP=1 (keep the temporary results and site, and print where they are).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "image-test: FAIL: $*" >&2; exit 1; }
say() { echo "image-test: $*" >&2; }

DATA=${DATA:-${BENCH_DATA_DIR:-../shared/data}}
[ -d "$DATA" ] || fail "no data folder at '$DATA' (set DATA or BENCH_DATA_DIR to the IDX files)"
DATA=$(cd "$DATA" && pwd)
DEVICE=${DEVICE:-cpu}
case "$DEVICE" in cpu|cuda) ;; *) fail "DEVICE must be cpu or cuda, not '$DEVICE'" ;; esac
IMAGE=${IMAGE:-bench:$DEVICE-test}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}

build_args=()
[ "$DEVICE" = cpu ] && build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
if timeout 20 docker info >/dev/null 2>&1; then
  engine=docker
else
  if ! command -v podman >/dev/null 2>&1 || ! podman image exists docker.io/library/python:3.11-slim-bookworm; then
    prepare=../shared/containers/prepare.sh
    if [ -f "$prepare" ] && [ "$(id -u)" = 0 ]; then
      say "no Docker engine; setting up podman with $prepare"
      bash "$prepare" >&2
    fi
  fi
  command -v podman >/dev/null 2>&1 || fail "neither a Docker engine nor podman is available"
  engine=podman
  # The registries are reached through the host's network and its CA bundle.
  build_args+=(--network host)
  ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] && build_args+=(-v "$ca:$ca:ro")
fi

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
say "building $IMAGE from docker/Dockerfile.$DEVICE with $engine (torch index: ${TORCH_INDEX_URL:-pip default})"
start=$SECONDS
"$engine" build "${build_args[@]}" -f "docker/Dockerfile.$DEVICE" -t "$IMAGE" \
  --build-arg "GIT_COMMIT=$commit" --build-arg "IMAGE_NAME=$IMAGE" . >&2
size=$("$engine" image inspect --format '{{.Size}}' "$IMAGE")
say "built in $((SECONDS - start)) s; image size $((size / 1000000)) MB"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-image-test.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  trap 'say "kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
# The report goes to out/site inside a mounted folder, so the test also covers creating --out.
mkdir -p "$work/results" "$work/artifacts" "$work/out"
me="$(id -u):$(id -g)"
run=("$engine" run --rm --network none --user "$me"
  -v "$DATA:/data:ro" -v "$work/results:/results" -v "$work/artifacts:/artifacts" -v "$work/out:/out")

if [ "$DEVICE" = cuda ]; then
  say "no GPU here: the entry point must refuse \`bench run\` in one line"
  # NVIDIA_VISIBLE_DEVICES=void: no GPU even where nvidia is the engine's default runtime
  if "${run[@]}" -e NVIDIA_VISIBLE_DEVICES=void "$IMAGE" run --preset smoke --device cuda 2>"$work/refusal" >/dev/null; then
    fail "bench run --device cuda started without a GPU"
  fi
  if [ "$(wc -l < "$work/refusal")" -ne 1 ] || ! grep -q "no CUDA GPU is visible" "$work/refusal"; then
    fail "the refusal is not one line: $(cat "$work/refusal")"
  fi
  cuda=$("${run[@]}" --entrypoint python "$IMAGE" -c 'import torch; print(torch.version.cuda or "")')
  [ -n "$cuda" ] || fail "torch in $IMAGE is not a CUDA build"
  say "torch is built for CUDA $cuda"
  gpu_free=("${run[@]}" -e BENCH_SKIP_GPU_CHECK=1)
  "${gpu_free[@]}" "$IMAGE" plan --preset q2 --device cuda --no-estimate > "$work/plan" \
    || fail "bench plan --device cuda failed in the image"
  grep -q " cuda " "$work/plan" || fail "bench plan --device cuda listed no cuda cells"
  say "plan: $(tail -n 1 "$work/plan")"
  cp -r results/. "$work/results/"
  "${gpu_free[@]}" "$IMAGE" report --store /results --out /out/site >&2 || fail "bench report failed in the image"
  if [ ! -s "$work/out/site/index.html" ] || ! head -c 5 "$work/out/site/report.pdf" | grep -q '%PDF'; then
    fail "the report wrote no site/index.html or no PDF"
  fi
  say "PASS: $IMAGE ($((size / 1000000)) MB) built with $engine; refusal, CUDA torch, plan and report checked"
  exit 0
fi

say "smoke study inside the image (--network none, as $me)"
start=$SECONDS
"${run[@]}" "$IMAGE" run --preset smoke --device cpu --quiet >&2 || fail "bench run failed in the image"
say "smoke study took $((SECONDS - start)) s"

runs="$work/results/runs.csv"
[ -s "$runs" ] || fail "no $runs after the run"
done_rows=$(python3 -c 'import csv, sys; print(sum(r.get("status") == "done" for r in csv.DictReader(open(sys.argv[1]))))' "$runs")
[ "$done_rows" -gt 0 ] || fail "runs.csv has no row with status done"
say "runs.csv: $done_rows runs done"
python3 - "$work/results" "$me" <<'PY' || fail "result files are not owned by the invoking user"
import os, sys
root, want = sys.argv[1], tuple(int(x) for x in sys.argv[2].split(":"))
wrong = [os.path.join(d, n) for d, _, files in os.walk(root) for n in files
         if (os.stat(os.path.join(d, n)).st_uid, os.stat(os.path.join(d, n)).st_gid) != want]
for path in wrong:
    print(f"image-test: {path} is not owned by {want[0]}:{want[1]}", file=sys.stderr)
sys.exit(1 if wrong else 0)
PY
grep -q "$IMAGE" "$runs" || fail "runs.csv does not name the image $IMAGE in its container_image column"

say "bench report inside the image"
"${run[@]}" "$IMAGE" report --store /results --out /out/site >&2 || fail "bench report failed in the image"
[ -s "$work/out/site/index.html" ] || fail "the report wrote no site/index.html"
[ -s "$work/out/site/report.pdf" ] || fail "the report wrote no site/report.pdf"
head -c 5 "$work/out/site/report.pdf" | grep -q '%PDF' || fail "site/report.pdf is not a PDF"
say "PASS: $IMAGE ($((size / 1000000)) MB) built with $engine, smoke study done ($done_rows runs), site and PDF written"
