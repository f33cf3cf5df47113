# A handler written for the sagemaker-inference toolkit, the way its users write them
# (imports the toolkit's own helpers, takes context, reads custom attributes through the
# multi-model-server context API). byoc must run it unmodified.
import json
import os

import numpy as np
from sagemaker_inference import content_types, decoder, encoder, errors


class Model:
    def __init__(self, scale):
        self.scale = scale

    def predict(self, data):
        return np.asarray(data, dtype=float) * self.scale


def model_fn(model_dir, context):
    with open(os.path.join(model_dir, "scale.json")) as handle:
        return Model(json.load(handle)["scale"])


def input_fn(input_data, content_type, context):
    if content_type == content_types.CSV:
        return decoder.decode(input_data, content_type)
    if content_type == content_types.JSON:
        return np.array(json.loads(input_data)["instances"])
    raise errors.UnsupportedFormatError(content_type)


def predict_fn(data, model, context):
    attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
    if attributes == "fail=400":
        raise errors.GenericInferenceToolkitError(400, "custom attributes asked for a 400")
    return model.predict(data)


def output_fn(prediction, accept, context):
    if context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes"):
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "echo=1")
    if accept in encoder.SUPPORTED_CONTENT_TYPES:
        return encoder.encode(prediction, accept), accept
    raise errors.UnsupportedFormatError(accept)
