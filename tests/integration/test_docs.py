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
