"""Indicators: vegetation loss, water turbidity, tailings footprint (one module each)."""
