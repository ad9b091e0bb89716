"""Test and bench support: what the tests and `bench/` need and the service does not.

Neither the wheel nor the Bento contains this package: launchers of the real components the
tests run against (`local`: a served Bento, PostgreSQL, Chromium), the simulator-truth tooling
that scores a model against a world's truth (`evaluation`), and comparisons of saved models
(`compare`).
"""
