"""The device simulation's second image (conftest.py): the oldest plausible versions of what runs before the bundle
is on the path (packaging, pip). A file of its own, so that `make test`'s workers run it beside the newest image's.
"""

from __future__ import annotations

import pytest

from x2softmax.gpucheck import image


@pytest.mark.e2e
def test_the_oldest_plausible_image_installs_the_bundle_and_plans_the_smoke_workflow(
        device_python_oldest, device_bundle, device_call, device_environment, device_versions, tmp_path):
    oldest = image.image_versions(which="oldest")
    env = device_environment(device_python_oldest, device_bundle, tmp_path / "site")
    assert device_versions(device_python_oldest, list(image.BEFORE_THE_BUNDLE), env) == {
        name: oldest[name] for name in image.BEFORE_THE_BUNDLE}  # the preflight's packaging, the installing pip
    assert oldest["packaging"] != image.image_versions()["packaging"]
    # This image differs only in what runs before the bundle is on the path: the preflight (packaging 24.0) and the
    # install (pip 24.0), then Snakemake from that install plans the smoke workflow (the dry mode's smoke check).
    # The checks that use only torch and the package (trainer, plain loop, loader, embedding, IJB scoring, resume)
    # run the same code on the same torch here and in the newest image's call (test_device_simulation.py).
    done, summary = device_call(device_python_oldest, device_bundle, tmp_path / "site", tmp_path / "out", "--dry",
                                "--checks", "smoke_workflow")
    assert done.returncode == 0 and summary["ok"] and summary["finished"], done.stderr[-3000:]
    assert done.stderr.splitlines()[0].startswith("preflight: Python") and "preflight: ok:" in done.stderr
    smoke = summary["checks"]["smoke_workflow"]
    assert set(summary["checks"]) == {"smoke_workflow"} and smoke["planned"] and not smoke["ran"]
    assert smoke["targets"] == ["all"]  # the whole DAG planned: the lent machine's default
