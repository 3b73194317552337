"""The tiny reference's cache: a finished run is found without importing training's stack."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_cached_tiny_reference_is_found_without_lightning(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from curation.features.reference import TinyReferenceRecipe, train_tiny_reference
        from curation.data.fileio import sha256_json

        recipe = TinyReferenceRecipe()
        key = sha256_json({{"pool": "abc", "recipe": recipe.__dict__, "version": 1}})[:24]
        run = Path({str(tmp_path)!r}) / "reference" / f"tiny-{{key}}"
        (run / "hf").mkdir(parents=True)
        (run / "train_summary.json").write_text("{{}}")
        found = train_tiny_reference(Path("pool.json"), None, "abc", Path({str(tmp_path)!r}),
                                     recipe)
        assert found == run / "hf", found
        assert "pytorch_lightning" not in sys.modules and "torch" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=120)
