"""The gRPC preferences API and its access policy."""
