"""X2-Softmax replication: margin losses, face data formats, training, evaluation and reports."""

__version__ = "0.1.0"
