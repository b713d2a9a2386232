import pytest


@pytest.fixture(scope="session")
def tiny_sim(tmp_path_factory):
    """A small fas-sim (4 domains x 3 subjects, 32 px), generated once per test session."""
    from facetrust.data import make_fas_sim

    out = tmp_path_factory.mktemp("fas_sim")
    return make_fas_sim(out, seed=3, image_size=32, subjects_per_domain=3, live_videos=1, attack_videos=1,
                        frames_per_video=2)
