"""facetrust doctor: CPU flags parsed from /proc/cpuinfo, optional parts found as they really are."""

import json
import shutil
from importlib.util import find_spec

from facetrust.cli import main
from facetrust.commands.doctor import cpu_flags

CPUINFO = """processor\t: 0
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni
processor\t: 1
flags\t\t: fpu
"""


def test_cpu_flags_from_first_processor():
    assert cpu_flags(CPUINFO) == {"fpu", "sse2", "avx2", "fma", "avx512f", "avx512_vnni"}
    assert cpu_flags("no flags here") == set()


def test_doctor_json_matches_the_machine(capsys):
    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    real_flags = cpu_flags()
    for flag, present in info["cpu"]["features"].items():
        assert present == (flag in real_flags)
    import torch

    assert info["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert len(info["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    optional = {o["name"]: o["present"] for o in info["optional"]}
    assert optional["dlib"] == (find_spec("dlib") is not None)
    assert optional["ultralytics"] == (find_spec("ultralytics") is not None)
    assert optional["chromium"] == any(shutil.which(n) for n in ("chromium", "chromium-browser",
                                                                 "google-chrome", "chrome"))
    assert info["packages"]["torch"] == torch.__version__.split("+")[0]


def test_doctor_text(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "optional parts:" in out and "blazeface file" in out and "AVX2" in out
