"""Optional plug-ins, never required: an image captioner (transformers) and an object detector (ultralytics).

* ``load_captioner(model_dir)``: any image-to-text model saved on disk that transformers loads with
  ``AutoModelForImageTextToText`` (LLaVA, BLIP, GIT, a ViT-GPT2 encoder-decoder, ...); nothing is
  downloaded (``local_files_only``). ``caption(image) -> str``; its claims are verified like any answer.
  Needs ``pip install 'facetrust[captioner]'``.
* ``load_object_detector(weights)``: a YOLOv8 model run by ultralytics from an **ONNX** export the user
  gives (``yolo export model=yolov8n.pt format=onnx``): ultralytics' ``.pt`` files are pickles, which
  facetrust never loads. ``detect(image) -> list[Region]`` with the class name as label; the boxes
  become regions a claim naming that class is checked on. Needs ``pip install ultralytics``.

Either can be replaced by any object with the same method (a ``Captioner`` / ``ObjectDetector``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facetrust.claims.regions import Region
from facetrust.errors import DataError, FacetrustError

PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"}


class PluginMissing(FacetrustError):
    """An optional plug-in's package is not installed (the message says what to install)."""


class Captioner(Protocol):
    def caption(self, image: np.ndarray) -> str: ...


class ObjectDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Region]: ...


def _require(module: str, install: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise PluginMissing(f"the {what} plug-in needs the {module} package, which is not installed: {install}") from err


class TransformersCaptioner:
    """An image-to-text model from a local folder; ``prompt`` for chat models such as LLaVA."""

    def __init__(self, model_dir: str | os.PathLike, prompt: str | None = None, max_new_tokens: int = 40,
                 min_new_tokens: int = 1) -> None:
        transformers = _require("transformers", "pip install 'facetrust[captioner]'", "captioner")
        folder = Path(model_dir)
        if not folder.is_dir():
            raise DataError(f"captioner {folder}: not a folder; give a transformers model saved with save_pretrained")
        try:
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True,
                                                                                  use_safetensors=True).eval()
            self.image_processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.processor = transformers.AutoProcessor.from_pretrained(folder, local_files_only=True) if prompt else None
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"captioner {folder}: transformers could not load it as an image-to-text model ({err})") from err
        self.prompt, self.max_new_tokens, self.min_new_tokens = prompt, max_new_tokens, min_new_tokens

    def caption(self, image: np.ndarray) -> str:
        import torch
        from PIL import Image

        picture = Image.fromarray(image)
        with torch.no_grad():
            if self.processor is not None:
                inputs = self.processor(images=picture, text=self.prompt, return_tensors="pt")
                ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, min_new_tokens=self.min_new_tokens)
                ids = ids[:, inputs["input_ids"].shape[1]:] if "input_ids" in inputs else ids
            else:
                pixels = self.image_processor(images=picture, return_tensors="pt")["pixel_values"]
                ids = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens,
                                          min_new_tokens=self.min_new_tokens)
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()


class UltralyticsDetector:
    """YOLOv8 through ultralytics, from an ONNX file (never a pickled ``.pt``)."""

    def __init__(self, weights: str | os.PathLike, confidence: float = 0.25) -> None:
        path = Path(weights)
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise DataError(f"{path} is a pickle file; facetrust never unpickles files. Export it to ONNX in a trusted "
                            "environment (yolo export model=yolov8n.pt format=onnx) and give the .onnx file")
        if path.suffix.lower() != ".onnx" or not path.is_file():
            raise DataError(f"object detector weights {path}: give an existing YOLOv8 .onnx file")
        ultralytics = _require("ultralytics", "pip install ultralytics", "object-detector")
        self.model, self.confidence = ultralytics.YOLO(str(path), task="detect"), confidence

    def detect(self, image: np.ndarray) -> list[Region]:
        result = self.model.predict(np.ascontiguousarray(image[..., ::-1]), conf=self.confidence, verbose=False)[0]
        regions = []
        for (x0, y0, x1, y1), cls, conf in zip(result.boxes.xyxy.tolist(), result.boxes.cls.tolist(),
                                               result.boxes.conf.tolist(), strict=True):
            regions.append(Region("object", (x0, y0, x1 - x0, y1 - y0), str(result.names[int(cls)]), float(conf)))
        return sorted(regions, key=lambda r: -(r.score or 0.0))


def load_captioner(model_dir: str | os.PathLike, prompt: str | None = None) -> TransformersCaptioner:
    """The captioner plug-in (``PluginMissing`` with the install command when transformers is absent)."""
    return TransformersCaptioner(model_dir, prompt)


def load_object_detector(weights: str | os.PathLike, confidence: float = 0.25) -> UltralyticsDetector:
    """The object-detector plug-in (``PluginMissing`` with the install command when ultralytics is absent)."""
    return UltralyticsDetector(weights, confidence)
