"""Benchmarks of the pack, side by side with the approach OpenChoreo ships (`python -m benchmarks --help`).

One module per benchmark (`handoff`, `rebuild`, `generate_workload`, `pack_cli`, `pipeline`); each exposes
`NAME`, `TITLE` and `run(ctx) -> list[Measurement]`. `harness` holds the statistics, the table and the JSON
writer; `fixtures` the shared real parts (a registry on 127.0.0.1, a busybox base image, container storage).
Timings are measured, never asserted: the tests only check the harness.
"""
