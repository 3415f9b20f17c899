"""The documentation stands on its own: no reference leaves the repository, no link is dead."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]

# Notes kept beside the repository are not part of it: nothing may point at them.
OUTSIDE = re.compile(r"\.\./shared|PERFORMANCE\.md|(?<!docs/)\bproviders\.md")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
EXPLICIT_ID = re.compile(r"""<a\s+id=["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def tracked_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text()
    return set(EXPLICIT_ID.findall(text)) | {slug(h) for h in HEADING.findall(text)}


def test_no_reference_leaves_the_repository() -> None:
    """No tracked file cites ../shared, PERFORMANCE.md, or a providers.md outside docs/."""
    this = Path(__file__).resolve()
    found = []
    for path in tracked_files():
        if path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    """Every relative link names a file that exists and, with a #fragment, an anchor in it."""
    dead = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        name, _, fragment = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        if not path.exists():
            dead.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            dead.append(f"{target}: no such anchor")
    assert dead == [], f"{doc.relative_to(ROOT)}: " + "; ".join(dead)


def test_the_checks_catch_what_they_guard() -> None:
    """The patterns above match the references they exist to refuse."""
    assert OUTSIDE.search("see ../shared/providers.md section 9")
    assert OUTSIDE.search("(PERFORMANCE.md: 180 req/s)")
    assert OUTSIDE.search("per providers.md 7.2")
    assert not OUTSIDE.search("see docs/providers.md#d5")
    assert slug("The internal API") == "the-internal-api"
    assert slug("<a id='x'></a>D5. Where the `video` URL is") == "d5-where-the-video-url-is"


def _layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout") :]
    return section[: section.index("```", section.index("```") + 3)]


def _named(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text) is not None


def test_the_readme_layout_names_every_package_and_module() -> None:
    """Each package under orchestrator/ and receiver/, and each module in orchestrator/, is in
    the README's Layout section; a renamed or added one fails here until the README says so."""
    layout = _layout()
    packages = [
        p.name
        for root in (ROOT / "orchestrator", ROOT / "receiver")
        for p in root.iterdir()
        if (p / "__init__.py").exists()
    ]
    modules = [p.stem for p in (ROOT / "orchestrator").glob("*.py") if p.stem != "__init__"]
    receiver = [p.stem for p in (ROOT / "receiver").glob("*.py") if p.stem != "__init__"]
    missing = [n for n in [*packages, *modules, *receiver] if not _named(n, layout)]
    assert missing == []
    engine = [p.stem for p in (ROOT / "orchestrator" / "engine").glob("*.py")]
    assert [n for n in engine if n != "__init__" and not _named(n, layout)] == []
