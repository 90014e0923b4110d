#!/bin/sh
# Entry point of the CUDA image: refuse to start, in one line, when no GPU is visible, instead of
# letting a CUDA study fail deep inside torch (or silently run nothing). BENCH_SKIP_GPU_CHECK=1
# skips the check for GPU-free commands such as `bench report` or `bench store merge`.
set -eu
if [ "${BENCH_SKIP_GPU_CHECK:-0}" != 1 ] \
    && ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench-cuda: no CUDA GPU is visible in this container; run it with --gpus all (docker)," \
    "--device nvidia.com/gpu=all (podman) or a GPU reservation (compose), or use the CPU image" >&2
  exit 1
fi
exec bench "$@"
