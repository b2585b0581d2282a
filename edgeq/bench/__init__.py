"""On-device benchmarking over serial: protocol (framing) separate from transport; harness, statistics, reports."""
