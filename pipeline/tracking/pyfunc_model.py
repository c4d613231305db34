"""The code MLflow runs to load a logged model ("models from code", MLflow >= 2.12).

MLflow stores this file with the model instead of a pickled Python object: loading the model
runs this file (with the ``pipeline`` package that travels with it, MLflow's ``code_paths``), which
loads the model directory artifact with ``pipeline.models.load_model``: data files only.
``pipeline.tracking.load_model`` does not even run this file for the project's own models: it
downloads the model directory and loads it directly.
"""

import mlflow

from pipeline.tracking import GroomingRiskPyfunc

mlflow.models.set_model(GroomingRiskPyfunc())
