#!/usr/bin/env bash
# Everything the GPU backend is verified with on a CUDA GPU, in one command (one device call).
#
#   bash benchmarks/gpu_session.sh --wheels   # beforehand, with network: fill .gpu_wheels/
#   bash benchmarks/gpu_session.sh            # on the GPU machine, from anywhere in the checkout
#   bash benchmarks/gpu_session.sh pytest_gpu compare_gpu   # only these steps (a device call lasts
#                                                            # at most 10 minutes: split there if need be)
#
# The GPU machine is expected to hold Python with numpy, scipy, numba (+ numba-cuda), CuPy, torch and
# torchaudio, and no network. What it lacks comes from .gpu_wheels/ (git-ignored; carry it along):
# nnAudio's wheel (a peer of the mel benchmark) and kymatio's development branch, copied from
# $KYMATIO_DEV (the folder that holds kymatio/), for the jTFS benchmark. modspec itself is put on
# PYTHONPATH: nothing is installed or resolved against the machine's own packages.
#
# Steps, each logged to $OUT (default gpu_out/), each run even if an earlier one fails:
#   1. the device and package versions;
#   2. pytest -m gpu on tests/test_gpu.py, test_correlate.py, test_nn.py and test_nn_jtfs.py: every feature
#      on CuPy arrays and every modspec.nn module (and the correlation under them) on CUDA tensors against
#      the CPU (float32 1e-4, float64 1e-9 or tighter);
#   3. python -m benchmarks.compare_gpu: melspectrogram, sinc, modulation, TMNN and jTFS against torch,
#      torchaudio, nnAudio and kymatio on the same GPU, with peak memory;
#   4. python -m benchmarks.compare_models --device cuda: one Adam step of every model;
#   5. two short training runs on CUDA through the CLI (mixed precision: the trainer's default there).
# The exit status is the number of failed steps.

set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu_wheels

if [ "${1:-}" = "--wheels" ]; then
    mkdir -p "$WHEELS"
    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d "$WHEELS" nnAudio
    if [ -n "${KYMATIO_DEV:-}" ]; then
        rm -rf "$WHEELS/kymatio_dev" && mkdir -p "$WHEELS/kymatio_dev"
        cp -r "$KYMATIO_DEV/kymatio" "$WHEELS/kymatio_dev/"
        find "$WHEELS/kymatio_dev" -name __pycache__ -prune -exec rm -rf {} +
    else
        echo "KYMATIO_DEV is unset: the jTFS benchmark will run without kymatio" >&2
    fi
    du -sh "$WHEELS"
    exit 0
fi

OUT=${OUT:-gpu_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    # Into a folder of their own: the machine's Python environment may not be writable, and stays as it is.
    SITE=${TMPDIR:-/tmp}/modspec_gpu_site
    "$PY" -m pip install --no-index --no-deps --no-compile -q --upgrade --target "$SITE" "$WHEELS"/*.whl \
        && export PYTHONPATH="$PYTHONPATH:$SITE"
fi
if [ -d "$WHEELS/kymatio_dev/kymatio" ]; then
    export KYMATIO_DEV="$PWD/$WHEELS/kymatio_dev"
fi
failed=0

STEPS=("$@")
wanted() {  # wanted NAME: no step names given, NAME is 'device' (always run), or NAME starts with one given
    [ "${#STEPS[@]}" -eq 0 ] || [ "$1" = device ] && return 0
    local prefix
    for prefix in "${STEPS[@]}"; do [[ "$1" == "$prefix"* ]] && return 0; done
    return 1
}

step() {  # step NAME COMMAND...: run, log to $OUT/NAME.txt, show the tail, count a failure
    local name=$1
    shift
    wanted "$name" || return 0
    echo "== $name: $*"
    "$@" >"$OUT/$name.txt" 2>&1
    local status=$?
    tail -n 40 "$OUT/$name.txt"
    echo "== $name: exit $status"
    [ "$status" -eq 0 ] || failed=$((failed + 1))
}

step device sh -c "nvidia-smi -L; \"$PY\" -c 'import sys, importlib.metadata as m, numpy, numba, cupy, torch; \
print(sys.version); print(\"numpy\", numpy.__version__, \"numba\", numba.__version__, \"numba-cuda\", \
m.version(\"numba-cuda\"), \"cupy\", cupy.__version__, \"torch\", torch.__version__, torch.cuda.get_device_name())'"
# Every file with gpu-marked tests (the others import librosa or soundfile, which the machine lacks).
step pytest_gpu "$PY" -m pytest -q -m gpu tests/test_gpu.py tests/test_correlate.py tests/test_nn.py \
    tests/test_nn_jtfs.py -p no:cacheprovider -rs
step compare_gpu "$PY" -m benchmarks.compare_gpu --out "$OUT/results_gpu.json"
step compare_models "$PY" -m benchmarks.compare_models --device cuda --out "$OUT/results_models_cuda.json"
for model in tmnn sincmodnet; do  # step names train_tmnn, train_sincmodnet ('train' selects both)
    step "train_$model" "$PY" -m modspec train --model "$model" --data synthetic:64 --epochs 1 --batch-size 16 \
        --steps-per-epoch 4 --device cuda --out "$OUT/run_$model" --quiet
done
rm -rf "$OUT"/run_*  # checkpoints: the logs above say what happened
echo "failed steps: $failed"
exit "$failed"
