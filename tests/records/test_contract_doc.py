"""docs/contracts.md's run-folder section says what `records` defines, field for field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import BaseModel

from records import (
    RECORD_VERSION,
    ROW_SCHEMA,
    AbortEvent,
    CapacityRecord,
    CpuSample,
    FaultEvent,
    HopTraffic,
    LiveProgress,
    LoadEvent,
    PhaseEvent,
    Proof,
    RunMeta,
    Verdict,
    WorkerTally,
    layout,
)
from records.capacity import ComponentLoad, GeneratorLag, Interval, Slo, SweepStep
from records.events import EVENT, HttpFaultTraffic, TrafficProof

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
SECTION = DOC.read_text(encoding="utf-8").split("## Run folder", 1)[1]
MODELS = (RunMeta, FaultEvent, PhaseEvent, AbortEvent, LoadEvent, WorkerTally, Proof,
          HopTraffic, HttpFaultTraffic, TrafficProof, Verdict, CpuSample, LiveProgress,
          CapacityRecord, Slo, Interval, SweepStep, GeneratorLag, ComponentLoad)
ARROW_NAMES = {pa.float64(): "float64", pa.int32(): "int32", pa.int64(): "int64",
               pa.string(): "string", pa.bool_(): "bool"}


def _named(text: str) -> set[str]:
    return set(re.findall(r"`([a-z0-9_]+)`", text))


def test_the_section_names_the_record_version() -> None:
    assert SECTION.startswith(f" (record version {RECORD_VERSION})")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_of_every_record_is_documented(model: type[BaseModel]) -> None:
    assert set(model.model_fields) - _named(SECTION) == set()


def test_every_file_name_is_documented() -> None:
    names = [v for k, v in vars(layout).items() if k.endswith(("_FILE", "_DIR"))]
    assert [n for n in names if n not in SECTION] == []


def test_the_rows_table_is_the_schema() -> None:
    table = SECTION.split("### rows", 1)[1].split("\n\n")[1]
    documented: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        names, kind = line.split("|")[1:3]
        for name in re.findall(r"`([a-z0-9_]+)`", names):
            documented[name] = kind.strip()
    expected = {f.name: ARROW_NAMES[f.type] + ("" if not f.nullable else ", null")
                for f in ROW_SCHEMA}
    assert documented == expected


def test_the_example_events_are_records() -> None:
    block = SECTION.split("### events.jsonl", 1)[1].split("```json\n", 1)[1].split("```")[0]
    lines = re.split(r"\n(?=\{)", block.strip())
    events = [EVENT.validate_python(json.loads(line)) for line in lines]
    assert [e.kind for e in events] == ["phase", "fault", "abort", "load"]
