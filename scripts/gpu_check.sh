#!/usr/bin/env bash
# The GPU checks of issue 13, for a machine with an NVIDIA GPU, CuPy and a CUDA build of
# PyTorch: the device tests on the real GPU instead of the fake one (every op of the registry
# on CuPy against NumPy, every autograd feature, modules/optimizers/saving), the main job
# with --device cuda, and the CUDA benchmark (writes benchmarks/RESULTS-cuda.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import tapegrad as tg, cupy; assert tg.cuda.is_available(); print('GPU:', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
TAPEGRAD_TEST_CUDA=real python -m pytest -q -p no:warnings tests/test_device_registry.py \
    tests/test_devices.py tests/test_devices_autograd.py tests/test_device_seam.py
python -m tapegrad.examples.digits --device cuda --epochs 3 --out "${OUT:-/tmp}/digits_cuda" --quiet --no-plot
python -m benchmarks --device cuda ${OUT:+--output "$OUT/RESULTS-cuda.md"}
