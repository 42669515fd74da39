"""A ratio as the benchmark tables print it: two decimals, or three where two would round it
onto its target (1.797 is not "1.80x" beside a target of ">= 1.8x" that it misses)."""


def ratio_text(ratio: float, target: float) -> str:
    if round(ratio, 2) == target and ratio != target:
        return f"{ratio:.3f}x"
    return f"{ratio:.2f}x"
