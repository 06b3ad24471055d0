"""The demo's gRPC services, one module each: user, auth, order, shipping."""
