"""Synthetic face identities (family-structured, long-tailed) rendered with OpenCV and written in the real formats.

Modules, each importing only those before it: parallel (images rendered in worker processes, in order), plan
(verification pair plans), settings (DEFAULTS and their validation), population (the identities), nuisance
(per-image conditions), render (the painter and its draw functions), write (the writers of each format and the
manifest).
"""

from x2softmax.data.synthetic.plan import val_pair_plan
from x2softmax.data.synthetic.population import N_FIELDS, class_sizes, population
from x2softmax.data.synthetic.render import TEMPLATE_112, generate_images
from x2softmax.data.synthetic.settings import DEFAULTS, GENERATOR_VERSION, resolve_config
from x2softmax.data.synthetic.write import generate, ijb_plan, train_samples

__all__ = [
    "DEFAULTS", "GENERATOR_VERSION", "N_FIELDS", "TEMPLATE_112", "class_sizes", "generate", "generate_images",
    "ijb_plan", "population", "resolve_config", "train_samples", "val_pair_plan",
]
