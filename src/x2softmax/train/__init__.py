"""Training: sharded classifier head (partial FC), trainer, checkpoints, schedules, GPU leases, launch.

No re-exports: a job imports the module it needs (x2softmax.train.health needs no torch through this package)."""
