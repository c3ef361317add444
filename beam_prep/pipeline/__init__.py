"""The thin Beam layer: one PTransform per module, wiring the pure functions of beam_prep.core."""
