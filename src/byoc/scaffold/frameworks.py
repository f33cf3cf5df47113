"""What differs between the frameworks ``byoc init`` writes a project for.

Everything a template needs to know about a framework is here: its pinned CPU
requirements, what a GPU image changes, the model file it saves and the image's extra
environment. The code itself (``code/train.py``, ``code/inference.py``) is in
``templates/<framework>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["FRAMEWORKS", "Framework"]


@dataclass(frozen=True)
class Framework:
    key: str
    title: str
    requirements: tuple[str, ...]  # lines of requirements.txt (pinned CPU wheels)
    model_file: str
    gpu: str  # what a GPU image changes (README); empty: no GPU build
    env: tuple[tuple[str, str], ...] = field(default=())  # extra ENV of the image
    hyperparameters: tuple[tuple[str, str], ...] = field(default=())  # the sample job's

    def hyperparameters_json(self) -> str:
        return json.dumps(dict(self.hyperparameters))


FRAMEWORKS: dict[str, Framework] = {
    framework.key: framework
    for framework in (
        Framework(
            key="sklearn",
            title="scikit-learn",
            requirements=("scikit-learn==1.9.1", "joblib==1.6.0"),
            model_file="model.joblib",
            gpu="",
            hyperparameters=(("n-estimators", "50"),),
        ),
        Framework(
            key="xgboost",
            title="XGBoost",
            # xgboost-cpu: the same library without the CUDA/NCCL wheels (~300 MB less)
            requirements=("xgboost-cpu==3.2.0",),
            model_file="model.ubj",
            gpu="In `requirements.txt` replace `xgboost-cpu` by `xgboost` (same version, built "
            "with CUDA), build on a CUDA runtime base (`./build.sh --base "
            "nvidia/cuda:12.6.3-runtime-ubuntu24.04` plus python3-venv) and train with "
            "`--device cuda`.",
            hyperparameters=(("num-round", "30"),),
        ),
        Framework(
            key="pytorch",
            title="PyTorch",
            # the CPU build from PyTorch's own index (PyPI's torch is the multi-GB CUDA one)
            requirements=(
                "--extra-index-url https://download.pytorch.org/whl/cpu",
                "torch==2.13.0+cpu",
            ),
            model_file="model.pt",
            gpu="In `requirements.txt` replace the index by "
            "`https://download.pytorch.org/whl/cu126` and the pin by `torch==2.13.0+cu126`, "
            "build on a CUDA runtime base (`./build.sh --base "
            "nvidia/cuda:12.6.3-runtime-ubuntu24.04` plus python3-venv); the code moves to "
            "`cuda` when `torch.cuda.is_available()`.",
            hyperparameters=(("epochs", "200"),),
        ),
        Framework(
            key="tensorflow",
            title="TensorFlow",
            requirements=("tensorflow-cpu==2.21.0",),
            model_file="model.keras",
            gpu="In `requirements.txt` replace `tensorflow-cpu==2.21.0` by "
            "`tensorflow[and-cuda]==2.21.0` (it brings its CUDA libraries) and build on a "
            "base with the NVIDIA driver's runtime (`./build.sh --base "
            "nvidia/cuda:12.6.3-base-ubuntu24.04` plus python3-venv).",
            env=(("TF_CPP_MIN_LOG_LEVEL", "2"),),
            hyperparameters=(("epochs", "100"),),
        ),
        Framework(
            key="custom",
            title="plain numpy",
            requirements=(),
            model_file="model.json",
            gpu="",
        ),
    )
}
