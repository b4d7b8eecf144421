"""Model cards in ``.atommic`` archives and ``python -m atommic_core info``."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile

import torch
from atommic_cli_testkit import base_config, cli_plugin, main_run, run_dirs, write_config

from atommic_core.cli import main
from atommic_core.model._archive import CARD_NAME, ArchiveReader
from atommic_core.model._save_restore import refresh_model_card
from atommic_core.model.model_card import LICENSE_PLACEHOLDER, card_front_matter
from atommic_core.testing import BoringModel

__all__ = ["cli_plugin"]


def _card(path) -> str:
    with ArchiveReader(path) as archive:
        return archive.read_text(CARD_NAME)


def _saved(tmp_path):
    torch.manual_seed(0)
    model = BoringModel({"hidden": 7})
    return model, model.save_to(tmp_path / "boring.atommic")


def test_save_to_writes_a_card_and_parameter_counts(tmp_path):
    model, path = _saved(tmp_path)
    card = _card(path)
    total = sum(p.numel() for p in model.parameters())
    fields = card_front_matter(card)
    assert fields["model"] == "BoringModel" and fields["license"] == LICENSE_PLACEHOLDER
    assert fields["task"] == "atommic_core"  # no ``task`` attribute: the defining package
    assert f"parameters: {total} ({total} trainable)" in card
    assert "- torch: " + torch.__version__.split("+")[0] in card.replace("+cpu", "")
    assert "no test ran" in card and "saved directly" in card
    with ArchiveReader(path) as archive:
        assert archive.manifest["parameters"] == {"total": total, "trainable": total}


def test_edited_card_survives_restore_and_save(tmp_path):
    _, path = _saved(tmp_path)
    edited = tmp_path / "card.md"
    edited.write_text("---\nlicense: CC-BY-4.0\n---\n# my model\n")
    assert main(["info", path, "--set-card", str(edited)]) == 0
    restored = BoringModel.restore_from(path)  # checksums still consistent after the rewrite
    again = restored.save_to(tmp_path / "again.atommic")
    assert card_front_matter(_card(again)) == {"license": "CC-BY-4.0"}


def test_info_prints_without_importing_torch(tmp_path):
    model, path = _saved(tmp_path)
    code = ("import sys; from atommic_core.cli import main; rc = main(['info', sys.argv[1]]); "
            "assert 'torch' not in sys.modules, 'info imported torch'; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    total = sum(p.numel() for p in model.parameters())
    assert f"parameters: {total:,} ({total:,} trainable)" in out.stdout
    assert "target: atommic_core.testing.BoringModel" in out.stdout
    assert "  hidden: 7" in out.stdout and "# BoringModel" in out.stdout


def test_info_json_and_card_only(tmp_path, capsys):
    _, path = _saved(tmp_path)
    assert main(["info", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["hidden"] == 7 and CARD_NAME in info["members"]
    assert main(["info", path, "--card"]) == 0
    assert capsys.readouterr().out == _card(path)


def test_old_format_archive_without_card_still_restores_and_reports(tmp_path, capsys):
    _, path = _saved(tmp_path)
    old = tmp_path / "old.atommic"
    with tarfile.open(path) as src, tarfile.open(old, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())
        manifest["format_version"] = 1
        del manifest["files"][CARD_NAME], manifest["parameters"]
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
        for m in src.getmembers():
            if m.name not in ("manifest.json", CARD_NAME):
                dst.addfile(m, src.extractfile(m))
    assert isinstance(BoringModel.restore_from(old), BoringModel)
    assert main(["info", str(old)]) == 0
    out = capsys.readouterr().out
    assert "unknown (older archive)" in out and "no model_card.md" in out


def test_refresh_adds_test_metrics(tmp_path):
    model, path = _saved(tmp_path)
    model._atommic_card_run = {"steps": 5, "epochs": 1, "seed": 3, "seconds": 90.0}
    refresh_model_card(path, model, {"test_loss": 0.25})
    card = _card(path)
    assert "| test_loss | 0.25 |" in card and "- steps: 5" in card and "1.5 min" in card
    assert "- seed: 3" in card


def test_train_writes_card_with_budget_and_test_metrics_and_publishes(cli_plugin, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(tmp_path / "cache"))
    exp_dir = tmp_path / "exps"
    folder = write_config(tmp_path / "cfg", base_config(exp_dir))
    assert main_run(folder, "train", "trainer.max_epochs=1", "+seed=5",
                    "+exp_manager.publish_pretrained=boring_pub") == 0
    (run,) = run_dirs(exp_dir)
    archive = run / "checkpoints" / "boring.atommic"
    card = _card(archive)
    loss = json.loads((run / "test_results.json").read_text())[0]["test_loss"]
    assert f"| test_loss | {loss:.6g} |" in card
    assert "- seed: 5" in card and "max_epochs 1" in card and "cpu device(s)" in card
    published = tmp_path / "cache" / "published"
    assert (published / "boring_pub.atommic").read_bytes() == archive.read_bytes()
    assert (published / "boring_pub.sha256").read_text().split()[0] == \
        hashlib.sha256(archive.read_bytes()).hexdigest()
