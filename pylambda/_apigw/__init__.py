"""API Gateway emulation: REST APIs (payload 1.0) and HTTP APIs (2.0) served on 127.0.0.1."""
