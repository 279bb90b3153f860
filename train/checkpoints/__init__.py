"""What a run writes besides its config: the run folder's checkpoints and whether it may start
or resume (run_folder.py), the exact-resume state file without pickle (checkpointing.py) and the
metrics log (run_log.py)."""
