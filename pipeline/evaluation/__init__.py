"""Pure evaluation: metrics with bootstrap intervals, paired comparison, plots, error analysis."""
