"""Tests of the embedded backend over real gRPC on loopback."""
