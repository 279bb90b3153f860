"""What a run writes besides its config: the run folder's checkpoints and whether it may start
or resume (run_folder.py), the exact-resume state file without pickle (checkpointing.py), the
metrics log (run_log.py), and the compact copy of a finished checkpoint to share or ship
(packing.py, `avaffect pack`)."""
