"""junit.xml: one testsuite per run, one testcase per hypothesis."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from records.verdicts import FAILS, INCONCLUSIVE, Verdict

__all__ = ["write_junit"]


def write_junit(path: Path, suites: Sequence[tuple[str, Sequence[Verdict]]]) -> None:
    """`fails` is a failure, `inconclusive` a skip (with why), `holds` a pass."""
    root = ET.Element("testsuites", name="gatecrash")
    for suite_name, verdicts in suites:
        suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(verdicts)),
                              failures=str(sum(v.verdict == FAILS for v in verdicts)),
                              skipped=str(sum(v.verdict == INCONCLUSIVE for v in verdicts)))
        for v in verdicts:
            case = ET.SubElement(suite, "testcase", classname=suite_name,
                                 name=f"[{v.arch}] {v.hypothesis}")
            text = f"measured {v.measured} vs threshold {v.threshold}: {v.detail}"
            if v.verdict == FAILS:
                ET.SubElement(case, "failure", message=text).text = text
            elif v.verdict == INCONCLUSIVE:
                ET.SubElement(case, "skipped", message=text)
            ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
