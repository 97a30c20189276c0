"""The README's method and option tables are generated from the registries and must be current."""
import re
from pathlib import Path

from saliency_cli.docs import blocks, refresh
from saliency_cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_holds_every_generated_table_and_each_is_current() -> None:
    text = README.read_text()
    assert set(re.findall(r"<!-- generated: ([\w-]+) -->", text)) == set(blocks())
    fresh, unknown = refresh(text)
    assert unknown == [] and fresh == text, "stale tables: run `saliency docs --write README.md`"
    assert "| `chains` | 500 |" in text  # the figure that drifted when the tables were hand-kept


def test_check_fails_on_a_stale_table_and_write_mends_it(tmp_path: Path, capsys) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- generated: options-rise -->\n| stale |\n<!-- end: options-rise -->\nend\n")
    assert main(["docs", str(doc), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["docs", str(doc), "--write"]) == 0
    assert main(["docs", str(doc), "--check"]) == 0
    assert "| `p_keep` | 0.5 |" in doc.read_text() and doc.read_text().endswith("end\n")
