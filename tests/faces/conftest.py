import json
from pathlib import Path

import pytest

# The shared real files live beside the repository (../shared/real from the project root).
SILENT_FACE = Path(__file__).resolve().parents[2] / ".." / "shared" / "real" / "silent-face"
PHOTOS = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")


@pytest.fixture(scope="session")
def silent_face_reference() -> dict:
    """reference.json of the shared Silent-Face photos (MTCNN boxes from facenet-pytorch 2.5.3)."""
    path = SILENT_FACE / "reference.json"
    if not path.is_file():
        pytest.skip(f"shared real photos not found at {SILENT_FACE.resolve()} (../shared/real/silent-face)")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def upright_photos(silent_face_reference) -> dict:
    """{name: upright RGB image} for the three shared phone photos."""
    from facetrust.data.io import read_image

    return {name: read_image(SILENT_FACE / name) for name in PHOTOS}
