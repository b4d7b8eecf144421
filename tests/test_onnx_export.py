"""``python -m atommic_core export``: REC and SEG models to ONNX, checked with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from atommic_core.cli import main
from atommic_core.onnx_export import ExportError, export_onnx
from atommic_core.testing import BoringModel
from atommic_rec.models import VarNet
from atommic_seg.models.zoo import SegmentationUNet

pytestmark = pytest.mark.filterwarnings("ignore")


def test_varnet_archive_exports_and_onnxruntime_matches_pytorch(tmp_path, capsys):
    torch.manual_seed(0)
    model = VarNet({"num_cascades": 1, "channels": 4, "pooling_layers": 2}).eval()
    archive = model.save_to(tmp_path / "varnet.atommic")
    out = tmp_path / "varnet.onnx"
    assert main(["export", archive, str(out), "--shape", "1,2,16,16"]) == 0
    assert "onnxruntime matches PyTorch" in capsys.readouterr().out
    # independent check on other data: complex in, complex out through [..., 2] floats
    g = torch.Generator().manual_seed(1)
    kspace = torch.randn(1, 2, 16, 16, dtype=torch.complex64, generator=g)
    maps = torch.randn(1, 2, 16, 16, dtype=torch.complex64, generator=g)
    mask = (torch.rand(1, 1, 1, 16, generator=g) < 0.5).float().expand(1, 1, 16, 16)
    initial = (maps.conj() * torch.fft.ifftn(kspace * mask, dim=(-2, -1))).sum(1)
    with torch.no_grad():
        expected = model(kspace * mask, maps, mask, initial)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {"masked_kspace": torch.view_as_real(kspace * mask).numpy(),
             "sensitivity_maps": torch.view_as_real(maps).numpy(),
             "mask": mask.contiguous().numpy(),
             "initial_image": torch.view_as_real(initial).numpy()}
    (got,) = session.run(["reconstruction"], feeds)
    np.testing.assert_allclose(got, torch.view_as_real(expected).numpy(), atol=1e-4)


def test_segmentation_unet_exports_logits(tmp_path):
    torch.manual_seed(0)
    model = SegmentationUNet({"num_classes": 3, "channels": 4, "num_pool_layers": 2})
    result = export_onnx(model, tmp_path / "seg.onnx", shape=(1, 1, 32, 24))
    assert result["inputs"] == {"image": [1, 1, 32, 24]} and result["max_abs_diff"] <= 1e-4
    image = torch.rand(1, 1, 32, 24, generator=torch.Generator().manual_seed(3))
    session = ort.InferenceSession(str(tmp_path / "seg.onnx"),
                                   providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model.eval()(image).numpy()
    np.testing.assert_allclose(session.run(None, {"image": image.numpy()})[0], expected,
                               atol=1e-4)
    with pytest.raises(ExportError, match="expected B,1,S,S for this 2D model"):
        export_onnx(model, tmp_path / "bad.onnx", shape=(1, 2, 32))


def test_models_that_cannot_export_say_why_in_one_line(tmp_path, capsys):
    archive = BoringModel({"hidden": 3}).save_to(tmp_path / "boring.atommic")
    assert main(["export", archive, str(tmp_path / "b.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: BoringModel cannot be exported to ONNX: it defines no "
                   "onnx_export_spec() (its inputs are not known)")
    assert not (tmp_path / "b.onnx").exists()
    assert main(["export", archive, str(tmp_path / "b.onnx"), "--shape", "1,x"]) == 2
    assert "--shape: expected comma-separated integers" in capsys.readouterr().err
