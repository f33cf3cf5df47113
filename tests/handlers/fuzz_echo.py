# The fuzz test's model: predicts what the codec decoded, so every encoder sees hostile
# data too. "raise=NNN" in X-Amzn-SageMaker-Custom-Attributes makes the handler itself
# fail with status NNN: the one way a 5xx may come back that byoc did not choose.
import re

from byoc.errors import ByocError

HANDLER_RAISED = "the handler raised this on purpose"


def model_fn(model_dir):
    return None


def predict_fn(data, model, context):
    wanted = re.search(r"raise=([45]\d\d)", context.custom_attributes or "")
    if wanted:
        raise ByocError(HANDLER_RAISED, status=int(wanted.group(1)))
    return data
