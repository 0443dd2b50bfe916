#!/usr/bin/env python3
"""Runs the Argo CD health checks under integrations/argocd against their fixtures.

Each resource_customizations/<group>/<kind>/ folder holds health.lua and
health_test.yaml in Argo CD's own fixture format (tests: [{inputPath,
healthStatus: {status, message}}]). The object is handed to the script as the
global `obj`, as Argo CD does, and the script runs under a real Lua 5.4
interpreter (`lua5.4`); the status and message it returns must equal the
fixture's. Exit status 1 when any case fails or nothing was found.
"""
import json
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CUSTOMIZATIONS = ROOT / "integrations" / "argocd" / "resource_customizations"


def lua_literal(value):
    """A Lua table constructor for a JSON-shaped value (null becomes nil)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for ch in value.encode("utf-8"):
            c = chr(ch)
            out.append(c if 32 <= ch < 127 and c not in '"\\' else "\\%03d" % ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join("[%s] = %s" % (lua_literal(str(k)), lua_literal(v))
                              for k, v in value.items() if v is not None) + "}"
    raise TypeError("cannot express %r in Lua" % (value,))


RUNNER = r"""
local script = assert(io.open(arg[1])):read("a")
local env = setmetatable({obj = OBJ}, {__index = _G})
local chunk = assert(load(script, "health.lua", "t", env))
local hs = chunk()
io.write(string.format("%s\n%s", tostring(hs.status), tostring(hs.message)))
"""


def run(script, obj):
    program = RUNNER.replace("OBJ", lua_literal(obj))
    done = subprocess.run(["lua5.4", "-", str(script)], input=program.encode(),
                          capture_output=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace"))
    status, _, message = done.stdout.decode().partition("\n")
    return status, message


def main():
    failures = 0
    cases = 0
    for fixture in sorted(CUSTOMIZATIONS.glob("*/*/health_test.yaml")):
        folder = fixture.parent
        script = folder / "health.lua"
        for test in yaml.safe_load(fixture.read_text())["tests"]:
            cases += 1
            obj = yaml.safe_load((folder / test["inputPath"]).read_text())
            want = test["healthStatus"]
            name = "%s/%s %s" % (folder.parent.name, folder.name, test["inputPath"])
            try:
                got = run(script, obj)
            except Exception as e:  # the script failed: a failure, with its error
                print("FAIL: %s: %s" % (name, e))
                failures += 1
                continue
            if got == (want["status"], want.get("message", "")):
                print("PASS: %s -> %s" % (name, got[0]))
            else:
                print("FAIL: %s: got %s, want %s" % (name, json.dumps(got),
                                                     json.dumps([want["status"], want.get("message", "")])))
                failures += 1
    if cases == 0:
        print("FAIL: no health_test.yaml under %s" % CUSTOMIZATIONS)
        return 1
    print("argocd health checks: %d passed, %d failed" % (cases - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
