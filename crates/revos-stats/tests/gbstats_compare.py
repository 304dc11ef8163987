"""Computes test cases with the reference gbstats for tests/gbstats_compare.rs.

Reads {"cases": [...]} as JSON on stdin and prints
{"gbstats_version": ..., "results": [...]} on stdout, one result per case.
A case is either
  {"kind": "ttest" | "bayes", "metric": "mean" | "proportion",
   "control": {...}, "treatment": {...},
   "difference": "absolute" | "relative", "alpha": float}
with arms {"n", "sum", "sum_squares"} (mean) or {"n", "successes"}
(proportion), or {"kind": "srm", "observed": [...], "weights": [...]}.
Non-finite numbers are printed as null; a case gbstats raises on gives
{"exception": "..."}.
"""

import importlib.metadata
import json
import math
import sys

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic
from gbstats.utils import check_srm


def number(x):
    x = float(x)
    return x if math.isfinite(x) else None


def statistic(metric, arm):
    n = int(arm["n"])
    if metric == "mean":
        return SampleMeanStatistic(n=n, sum=arm["sum"], sum_squares=arm["sum_squares"])
    return ProportionStatistic(n=n, sum=arm["successes"])


def shared(result):
    return {
        "expected": number(result.expected),
        "ci": [number(result.ci[0]), number(result.ci[1])],
        "uplift": {
            "mean": number(result.uplift.mean),
            "stddev": number(result.uplift.stddev),
        },
        "error": result.error_message,
    }


def run(case):
    kind = case["kind"]
    if kind == "srm":
        return {"p_value": number(check_srm(case["observed"], case["weights"]))}
    control = statistic(case["metric"], case["control"])
    treatment = statistic(case["metric"], case["treatment"])
    if kind == "ttest":
        config = FrequentistConfig(difference_type=case["difference"], alpha=case["alpha"])
        result = TwoSidedTTest(control, treatment, config).compute_result()
        out = shared(result)
        out["p_value"] = number(result.p_value)
        return out
    if kind == "bayes":
        config = EffectBayesianConfig(difference_type=case["difference"], alpha=case["alpha"])
        result = EffectBayesianABTest(control, treatment, config).compute_result()
        out = shared(result)
        out["chance_to_win"] = number(result.chance_to_win)
        out["risk"] = [number(result.risk[0]), number(result.risk[1])]
        return out
    raise ValueError(f"unknown case kind {kind!r}")


def run_or_report(case):
    # gbstats raises on a few inputs (e.g. ZeroDivisionError for an absolute
    # Bayesian test on a zero control mean); report them instead of dying.
    try:
        return run(case)
    except Exception as e:  # noqa: BLE001
        return {"exception": f"{type(e).__name__}: {e}"}


def main():
    cases = json.load(sys.stdin)["cases"]
    json.dump(
        {
            "gbstats_version": importlib.metadata.version("gbstats"),
            "results": [run_or_report(case) for case in cases],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
