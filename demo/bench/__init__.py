"""The benchmarks, all in one place behind `avaffect bench`: engine step latency (engines.py),
the whole real-time pipeline (pipeline.py), concurrent streams on one engine (streams.py), the
run of the chosen sections (run.py: :class:`BenchOptions`, :func:`run_benchmark`) and the
report (report.py). See docs/benchmarks.md."""
