"""Cross-checks schemas/ocsf/api_activity-1.3.0.schema.json against OCSF's own library, ocsf-lib (PyPI, the
OCSF project's Python tooling; it reads schema exports but generates no JSON Schema): the same 1.3.0 export,
read by ocsf-lib, must give class 6003 the same attributes, required attributes and enum values as the
generated JSON Schema (attributes that only a profile adds are left out of both: no profile is applied).

    /tmp/ocsf-venv/bin/pip install ocsf-json-schema==1.2.0 ocsf-lib==0.10.4
    /tmp/ocsf-venv/bin/python schemas/ocsf/crosscheck.py
"""
import json
import pathlib

from ocsf.schema import from_dict
from ocsf_json_schema import get_ocsf_schema

generated = json.loads((pathlib.Path(__file__).parent / "api_activity-1.3.0.schema.json").read_text())
schema = from_dict(get_ocsf_schema(version="1.3.0"))
assert schema.version == "1.3.0", schema.version
event = next(e for e in schema.classes.values() if e.uid == 6003)
attributes = {name: attr for name, attr in event.attributes.items() if not attr.profile}
problems = []
if set(attributes) != set(generated["properties"]):
    problems.append(f"attributes differ: {sorted(set(attributes) ^ set(generated['properties']))}")
required = sorted(name for name, attr in attributes.items() if attr.requirement == "required")
if required != sorted(generated["required"]):
    problems.append(f"required differ: {required} vs {sorted(generated['required'])}")
for name, attr in attributes.items():
    if attr.enum and name in generated["properties"]:
        values = sorted(int(key) for key in attr.enum)
        listed = generated["properties"][name].get("enum")
        if listed is not None and sorted(listed) != values:
            problems.append(f"{name} enum differs: {values} vs {sorted(listed)}")
print("\n".join(problems) or f"OCSF {schema.version} class {event.uid} ({event.name}): {len(attributes)} attributes, required {required}: the generated schema agrees")
raise SystemExit(1 if problems else 0)
