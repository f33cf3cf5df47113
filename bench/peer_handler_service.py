"""Handler service for the peer (sagemaker-inference toolkit on multi-model-server).

This is the usual pattern of the AWS framework containers: MMS imports this module
(``default_service_handler`` in /etc/sagemaker-mms.properties) and instantiates its only
class; the Transformer then loads ``inference.py`` from ``<model_dir>/code``.
"""

from sagemaker_inference.default_handler_service import DefaultHandlerService
from sagemaker_inference.default_inference_handler import DefaultInferenceHandler
from sagemaker_inference.transformer import Transformer


class HandlerService(DefaultHandlerService):
    def __init__(self):
        transformer = Transformer(default_inference_handler=DefaultInferenceHandler())
        super().__init__(transformer=transformer)
