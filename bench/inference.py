"""Handler script used by the benchmark, written the way sagemaker-inference-toolkit
users write it.  It is copied to ``<SAGEMAKER_BASE_DIR>/model/code/inference.py`` and
served unmodified by both byoc and the peer (sagemaker-inference on multi-model-server).

No input_fn / output_fn: both servers use their default CSV decoder and JSON encoder.
"""

import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    # The toolkit's CSV decoder (numpy.genfromtxt) turns a one-row body into a 1-D array.
    if data.ndim == 1:
        data = data.reshape(1, -1)
    return model.predict(data)
