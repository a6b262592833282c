"""Evidence packages that anyone can verify offline.

A package is a BagIt bag holding the report, figures, rasters, vectors, statistics and
provenance of one check, signed with Ed25519 (``monitor verify``).
"""
