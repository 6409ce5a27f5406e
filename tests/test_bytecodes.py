"""The deterministic speed guard: Python bytecodes per W1 op, per W2 op and per W3 step
(benchmarks.bytecodes) may not rise more than 5% over the counts recorded beside it in
benchmarks/bytecodes.json. A change that makes the engine faster records its new counts
(python -m benchmarks.bytecodes --write)."""
import pytest

from benchmarks import bytecodes


@pytest.mark.parametrize("workload", sorted(bytecodes.UNITS))
def test_bytecodes_do_not_rise(workload):
    table = bytecodes.recorded()
    if table is None:
        pytest.skip(f"no counts recorded for Python {bytecodes.python_version()} "
                    f"(python -m benchmarks.bytecodes --write)")
    now = bytecodes.per_unit(workload)
    limit = table[workload] * bytecodes.TOLERANCE
    assert now <= limit, (f"{workload}: {now:,.0f} bytecodes per unit, more than 5% over the "
                          f"recorded {table[workload]:,} (limit {limit:,.0f}); find what "
                          f"slowed the engine: python -m benchmarks.bytecodes {workload} --top 20")
