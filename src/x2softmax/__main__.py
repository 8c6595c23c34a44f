"""`python -m x2softmax ...`: the same command as `x2softmax ...` (what every workflow rule runs)."""

from x2softmax.cli import main

main()
