"""ONNX engines: ONNX Runtime (CPU provider; CUDA provider where onnxruntime-gpu is installed) and
OpenVINO (CPU). Both read the same .onnx file: the network exported by saliency.runtimes.export,
or a user's own file (checked to be a classifier by saliency.runtimes.onnx_file)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from saliency.errors import ModelUnavailable
from saliency.runtimes.base import softmax_if


def _threads(threads: int | None) -> int:
    # The engines would take every core; torch's setting is the process's one knob for that.
    return threads or torch.get_num_threads()


class OnnxRuntime:
    name = "onnxruntime"
    local_pool = True

    def __init__(self, path: Path, device: torch.device, logits: bool, classes: int,
                 threads: int | None = None, chunk: int = 64) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings about unused initialisers are not the user's business
        # Idle threads would otherwise spin for a while after each run, taking the cores from torch
        # (the reference check, gradient methods) and from other processes on the machine.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        providers: list = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelUnavailable("ONNX Runtime has no CUDA provider here (the onnxruntime package "
                                       "is CPU-only; install onnxruntime-gpu for it)")
            providers = [("CUDAExecutionProvider", {"device_id": device.index or 0}), *providers]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name
        self.device, self.logits, self.classes, self.chunk = device, logits, classes, chunk
        self.version = ort.__version__
        self.where = self.session.get_providers()[0]

    def run(self, images: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return softmax_if(self.logits, self._run_on_gpu(images.contiguous()))
        out = self.session.run([self.output], {self.input: images.detach().contiguous().numpy()})[0]
        return softmax_if(self.logits, torch.from_numpy(out))

    def _run_on_gpu(self, images: torch.Tensor) -> torch.Tensor:
        """torch's CUDA buffers bound in place, input and output: no copy through host memory."""
        out = torch.empty(images.shape[0], self.classes, device=images.device)
        index = images.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input(self.input, "cuda", index, np.float32, tuple(images.shape), images.data_ptr())
        binding.bind_output(self.output, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        torch.cuda.current_stream(images.device).synchronize()  # the images are written
        self.session.run_with_iobinding(binding)
        return out


class OpenVinoRuntime:
    name = "openvino"
    local_pool = True

    def __init__(self, path: Path, logits: bool, threads: int | None = None, chunk: int = 64) -> None:
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": _threads(threads),
            # One request at a time, each as fast as it can be: what a method's loop does.
            "PERFORMANCE_HINT": "LATENCY",
            # Its default on CPUs with bf16 units (AMX, AVX512-BF16) is bf16, which moved the tiny
            # model's probabilities by 5.6e-4: not the network torch runs.
            "INFERENCE_PRECISION_HINT": "f32",
        })
        self.request = compiled.create_infer_request()
        self.logits, self.chunk = logits, chunk
        self.version = ov.get_version()
        self.where = "CPU"

    def run(self, images: torch.Tensor) -> torch.Tensor:
        self.request.infer({0: images.detach().contiguous().numpy()})
        out = torch.from_numpy(np.array(self.request.get_output_tensor(0).data))  # own the buffer
        return softmax_if(self.logits, out)
