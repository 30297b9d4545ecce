"""The pyfunc model's code (MLflow "models from code"): MLflow copies this file into
the logged model and runs it on load, so no pickled object travels with the model."""

import mlflow

from yolops.track.pyfunc import build_python_model

mlflow.models.set_model(build_python_model())
