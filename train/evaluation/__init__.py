"""Scoring: a model over a dataset (evaluate.py, used by the loop and by ``avaffect eval``),
the paper's and the ABAW challenges' metrics (metrics.py) and the text report (report.py)."""
