"""The paper-shape rehearsal on the CPU (`make rehearse`): paper shapes, every run for a few steps, scale checks."""

from x2softmax.rehearsal.run import RehearsalSettings, rehearse
from x2softmax.rehearsal.scale import scale_checks

__all__ = ["RehearsalSettings", "rehearse", "scale_checks"]
