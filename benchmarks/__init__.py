"""Throughput, re-run and window benchmarks with their baselines; run with `make bench` (see docs/benchmarks.md)."""
