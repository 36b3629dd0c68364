"""What the tests (and the benchmarks) start beside the service: fake servers, the fault proxy,
the browser."""
