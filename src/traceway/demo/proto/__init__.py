"""Code generated from ``protos/*.proto`` by ``traceway.demo.codegen``; not in git."""
