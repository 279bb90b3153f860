"""What a run optimises: the masked multi-task and ArcFace losses (losses.py), the published
expression priors that give AU and VA targets to expression-only data (priors.py), the
ArcFace health check (arcface_health.py) and the class centres fitted at the end (centres.py)."""
