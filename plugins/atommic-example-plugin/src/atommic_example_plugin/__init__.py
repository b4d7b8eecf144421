"""Example atommic plugin (filled in by the optimizers issue)."""
