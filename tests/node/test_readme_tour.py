"""README.md's "A short tour" runs as written: its shell block is taken from the README and run
in order by bash in an empty directory, with `hanoi` reachable only through the PATH line the
tour itself gives. Every file the tour reads is made by the tour (a template, an export, a
package). If the README changes, this runs the new tour; if a command changes, the tour fails
here before a newcomer finds out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

README = Path(__file__).resolve().parents[2] / "README.md"
VENV = Path(sys.executable).parent.parent  # the environment these tests run in


def tour() -> str:
    """The shell block under the heading "A short tour"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A short tour"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the tour is one shell block"
    return blocks[0]


def test_the_tour_is_what_a_newcomer_needs() -> None:
    text = README.read_text(encoding="utf-8")
    assert text[text.index("## A short tour"):].split("\n", 2)[2].startswith("**Open the console.** `make demo`")
    script = tour()
    for needed in ('export PATH="$PWD/.venv/bin:$PATH"', "hanoi requests template", "hanoi node show",
                   "hanoi offences", "consult", "hanoi outbox deliver"):
        assert needed in script
    assert script.index(" consult ") < script.index("--kind refused")  # refusal needs consultation first


@pytest.mark.timeout(900)  # some fifty `hanoi` processes, each starting Python afresh
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(VENV, target_is_directory=True)  # as `make install` leaves it
    bin_dir = str(VENV / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != Path(bin_dir).resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANOI_")}
    env.update(PATH=path, COLUMNS="200")
    script = "set -euo pipefail -x\n" + tour()
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"the tour stopped:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
    out = done.stdout
    assert "complete: every required field is present and valid" in out
    assert "nothing will be delivered" in out  # fr-pharos has no endpoint
    assert "package ok: 1 file" in out  # GB verified FR's package against FR's key
    assert "ledger ok" in out
    form = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(tmp_path / "form.pdf").pages)
    assert "Requesting authority: UK Central Authority (GB)" in form
    assert "Requested authority: PHAROS (FR)" in form
    assert "not submitted" not in form
