"""Analyses: margin geometry of the losses (margins), the toy example (toy), trained-head geometry (geometry)."""
