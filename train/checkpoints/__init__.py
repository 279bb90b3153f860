"""What a run writes besides the model checkpoint: the exact-resume state file
(checkpointing.py) and the metrics log (run_log.py)."""
