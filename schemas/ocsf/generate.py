"""Generates schemas/ocsf/api_activity-1.3.0.schema.json: the JSON Schema (draft 2020-12) of OCSF class 6003
(API Activity) at OCSF 1.3.0, with every object it references embedded under $defs.

The schema comes from the OCSF project's own export of 1.3.0 (schema.ocsf.io/1.3.0/export/schema), as
bundled in the PyPI package ocsf-json-schema 1.2.0, whose generator turns it into JSON Schema:

    python3 -m venv /tmp/ocsf-venv && /tmp/ocsf-venv/bin/pip install ocsf-json-schema==1.2.0
    /tmp/ocsf-venv/bin/python schemas/ocsf/generate.py > schemas/ocsf/api_activity-1.3.0.schema.json
"""
import json
import sys

from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

VERSION = "1.3.0"
CLASS_UID = 6003

export = get_ocsf_schema(version=VERSION)
assert export["version"] == VERSION, export["version"]
schema = OcsfJsonSchemaEmbedded(export)
json.dump(schema.get_class_schema(schema.lookup_class_name_from_uid(CLASS_UID)), sys.stdout, indent=2, sort_keys=True)
