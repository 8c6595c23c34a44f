"""The device simulation's second image (conftest.py): the oldest plausible versions of what runs before the bundle
is on the path (packaging, pip). A file of its own, so that `make test`'s workers run it beside the newest image's.
"""

from __future__ import annotations

import pytest

from x2softmax.gpucheck import CHECKS, image


@pytest.mark.e2e
def test_the_oldest_plausible_image_passes_every_dry_check(
        device_python_oldest, device_bundle, device_call, device_environment, device_versions, tmp_path):
    oldest = image.image_versions(which="oldest")
    env = device_environment(device_python_oldest, device_bundle, tmp_path / "site")
    assert device_versions(device_python_oldest, list(image.BEFORE_THE_BUNDLE), env) == {
        name: oldest[name] for name in image.BEFORE_THE_BUNDLE}  # the preflight's packaging, the installing pip
    assert oldest["packaging"] != image.image_versions()["packaging"]
    # every check in its dry form; the real smoke workflow through the bundle runs on the newest image
    # (test_device_simulation.py): this image differs only in what runs before the bundle is on the path
    done, summary = device_call(device_python_oldest, device_bundle, tmp_path / "site", tmp_path / "out", "--dry")
    assert done.returncode == 0 and summary["ok"] and summary["finished"], done.stderr[-3000:]
    assert set(summary["checks"]) == set(CHECKS) and summary["checks"]["smoke_workflow"]["planned"]
