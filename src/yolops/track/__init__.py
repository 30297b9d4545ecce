"""Experiments, model registry and sweeps, on MLflow and Optuna.

tracking.py (trainings as MLflow runs), pyfunc.py (the model as an MLflow pyfunc),
registry.py (versions, aliases, the promotion gate), resolve.py (a model reference
to a loaded predictor), runs.py and report.py (compare, HTML report), sweep.py
(Optuna), demo.py (the demo's track-register-promote step).
"""
