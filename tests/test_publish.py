"""`python -m flex.publish`: the README's small copies of the figures and tables."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image

from flex.publish import main


def _study_outputs(results):
    (results / "figures").mkdir(parents=True)
    (results / "tables").mkdir()
    figure, axis = plt.subplots(figsize=(12, 4))
    axis.plot([0, 1], [1, 0])
    figure.savefig(results / "figures/wide.png", dpi=150)  # 1800 x 600 pixels
    figure.savefig(results / "figures/narrow.png", dpi=30)  # 360 x 120: left as it is
    plt.close(figure)
    (results / "tables/sr.md").write_text("| model | rfne |\n|---|---|\n| flex | 0.2 |\n")


def test_figures_are_scaled_to_the_width_and_tables_copied(tmp_path):
    _study_outputs(tmp_path / "results")
    assert main(["--results", str(tmp_path / "results"), "--output", str(tmp_path / "docs"),
                 "--max-width", "600"]) == 0  # fmt: skip
    with Image.open(tmp_path / "docs/figures/wide.png") as wide:
        assert wide.size == (600, 200)
    with Image.open(tmp_path / "docs/figures/narrow.png") as narrow:
        assert narrow.size == (360, 120)
    assert (tmp_path / "docs/tables/sr.md").read_text().endswith("| flex | 0.2 |\n")
    assert not list((tmp_path / "docs").rglob(".*.tmp"))


def test_no_figures_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flex.publish", "--results", str(tmp_path), "--output",
         str(tmp_path / "docs")], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no figures in" in done.stderr and "Traceback" not in done.stderr
