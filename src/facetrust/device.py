"""One reading of ``--device`` for every command: ``auto | cpu | gpu | cuda[:N]``.

``resolve_device`` turns what a person typed into a PyTorch device string, and says so when the
device does not exist on this machine (before any weights are read, so the error names the device,
not the checkpoint).
"""

from __future__ import annotations

import re

from facetrust.errors import ConfigError

DEVICE_CHOICES = "auto | cpu | gpu | cuda | cuda:N"
DEVICE_HELP = "where PyTorch runs: auto (a GPU when there is one), cpu, gpu (= cuda), cuda or cuda:N (default %(default)s)"

_CUDA = re.compile(r"^(?:gpu|cuda)(?::(\d+))?$")


def resolve_device(text: str | None, *, option: str = "--device") -> str:
    """``"auto"|"cpu"|"gpu"|"cuda"|"cuda:N"`` -> ``"cpu"`` or ``"cuda[:N]"``; ConfigError if absent.

    ``auto`` (and ``None``) pick ``cuda`` when PyTorch sees a GPU, else ``cpu``.
    """
    name = (text or "auto").strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    match = _CUDA.match(name)
    if not match:
        raise ConfigError(f"{option} {text!r} is not a device; use one of {DEVICE_CHOICES}")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"{option} {text}: no CUDA GPU is available to PyTorch on this machine "
                          f"(torch {torch.__version__}); use --device cpu (or auto)")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"{option} {text}: this machine has {count} CUDA GPU(s), numbered 0..{count - 1}")
    return f"cuda:{index}" if match.group(1) is not None else "cuda"
