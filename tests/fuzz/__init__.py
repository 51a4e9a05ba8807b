"""Property-based fuzzing of the REST gateway, driven by the descriptor set Envoy
transcodes with: routes, request shapes and resource names all come from the protos,
so a new RPC is fuzzed without new code (tests/e2e/test_fuzz_rest.py runs it)."""
