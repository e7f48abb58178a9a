"""The config reference in docs/ is generated from the code's tables; this
fails when someone adds or changes a key without regenerating it."""

import os
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_configuration_reference_is_current(broker_binary):
    out = subprocess.run([broker_binary, "--print-config-reference"], check=True,
                         capture_output=True, text=True).stdout
    with open(os.path.join(ROOT, "docs", "CONFIGURATION.md")) as f:
        doc = f.read()
    expected = out.replace("\n## ", "\n### ")
    if expected.startswith("## "):
        expected = "#" + expected
    assert expected in doc, "docs/CONFIGURATION.md is stale: run scripts/gen-docs.sh"
    # Every key the broker accepts is documented.
    for line in out.splitlines():
        if line.startswith("| `"):
            key = line.split("`")[1]
            assert "`%s`" % key in doc


def test_kferry_configuration_reference_is_current(broker_binary):
    kferry = os.path.join(os.path.dirname(broker_binary), "kferry")
    out = subprocess.run([kferry, "config-reference"], check=True, capture_output=True,
                         text=True).stdout
    with open(os.path.join(ROOT, "docs", "CONFIGURATION.md")) as f:
        doc = f.read()
    assert out in doc, "docs/CONFIGURATION.md is stale: run scripts/gen-docs.sh"


def _slug(heading):
    """GitHub's anchor of a Markdown heading."""
    import re
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def test_markdown_links_resolve():
    """Every relative link of README.md and docs/*.md names an existing
    file and, with #anchor, a heading of it (issue 13: MIRROR.md linked to
    a Rollback section it did not have)."""
    import glob
    import re
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    files = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    anchors = {}

    def anchors_of(path):
        if path not in anchors:
            text = open(path, encoding="utf-8").read()
            text = re.sub(r"```.*?```", "", text, flags=re.S)
            anchors[path] = {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}
        return anchors[path]

    bad = []
    for f in files:
        text = open(f, encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto:
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            if not os.path.exists(dest):
                bad.append("%s: %s (no such file)" % (os.path.relpath(f, root), target))
            elif anchor and dest.endswith(".md") and anchor not in anchors_of(dest):
                bad.append("%s: %s (no such section)" % (os.path.relpath(f, root), target))
    assert not bad, "\n".join(bad)
