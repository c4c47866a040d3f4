#!/bin/sh
# kbench.sh — builds native/bench/kbench.cc (the core and every x86-64 kernel group, no Node) into
# build-kbench/kbench and runs it with the given arguments: a quick native timing of the
# CONFIGS.md shapes for kernel work, e.g. `scripts/kbench.sh 1 2 C3` or `scripts/kbench.sh 2 bf16 C1`.
set -e
cd "$(dirname "$0")/.."
out=build-kbench
mkdir -p "$out"
flags="-O3 -std=c++17 -Inative/include -Inative/src -DRNNX_HAVE_AVX2=1 -DRNNX_HAVE_AVX512=1 -pthread"
g++ $flags -c native/src/cpu/kernels/avx512/table.cc -o "$out/avx512.o" -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma &
g++ $flags -c native/src/cpu/kernels/avx2/table.cc -o "$out/avx2.o" -mavx2 -mfma &
for f in native/bench/kbench.cc native/src/core/status.cc native/src/core/config.cc native/src/core/rnn.cc \
         native/src/core/thread_pool.cc native/src/cpu/cpu_features.cc native/src/cpu/dispatch.cc \
         native/src/cpu/kernels/scalar/gemm.cc native/src/cpu/kernels/scalar/cells.cc; do
  g++ $flags -c "$f" -o "$out/$(basename "$f" .cc).o" &
done
wait
g++ -pthread "$out"/*.o -o "$out/kbench"
exec "$out/kbench" "$@"
