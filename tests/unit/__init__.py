"""Pure stage tests: format adapters, policy, compressors, codec, config, metrics, envoy replies."""
