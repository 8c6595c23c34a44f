"""Evaluation: embedding extraction, pair verification protocols, IJB-B/C 1:1 and 1:N, the tidy summary table.

No re-exports: a job imports the module it needs (x2softmax.evaluate.summary, .uncertainty, ...), so the jobs that need
no torch never load it (bench/replicate_cpu.py counts the start-up)."""
