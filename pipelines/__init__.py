"""Orchestration on Dask: checks, portfolio runs, run ledger, leases (later issues)."""
