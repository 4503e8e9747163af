#!/usr/bin/env python3
"""The layers of core/ and what each may include (docs/architecture.md).

Two checks, both must hold:
1. Statically: every `#include "duroxide/X.hpp"` (or <duroxide/X.hpp>) in a layer names a
   header of that layer or of one it sits on; sqlite3.h and libpq-fe.h appear only inside
   their store; the hosts (cli/, wasm/, bench/) include neither.
2. By the compiler: with only a layer's own include folders (those CMake gives it), an
   upward include does not compile — g++ -fsyntax-only on a probe file must fail, while the
   same probe with the upper layer's folders added compiles.
Prints "N passed, M failed" last, as scripts/test.sh expects.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "core")

# layer folder -> the layer folders it may include from (itself included)
ALLOWED = {
    "model": {"model"},
    "engine": {"model", "engine"},
    "store": {"model", "store"},
    "stores/sql": {"model", "store", "stores/sql"},
    "stores/sqlite": {"model", "store", "stores/sql", "stores/sqlite"},
    "stores/postgres": {"model", "store", "stores/sql", "stores/postgres"},
    "stores": {"model", "store", "stores/sqlite", "stores/postgres", "stores"},
    "runtime": {"model", "engine", "store", "runtime"},
    "clients": {"model", "engine", "store", "clients"},
    "hosts": {"model", "engine", "store", "stores", "stores/sqlite", "clients", "runtime", "hosts"},
    "platform": {"model", "engine", "store", "runtime", "platform"},
}
PRIVATE_HEADERS = {"sqlite3.h": "stores/sqlite", "libpq-fe.h": "stores/postgres"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def layer_of(path):
    rel = os.path.relpath(path, CORE).replace(os.sep, "/")
    parts = rel.split("/")
    if parts[0] == "stores" and len(parts) > 1 and parts[1] in ("sql", "sqlite", "postgres"):
        return "stores/" + parts[1]
    return parts[0]


def header_layers():
    owner = {}
    for layer in ALLOWED:
        folder = os.path.join(CORE, layer, "include", "duroxide")
        for dirpath, _, files in os.walk(folder):
            for name in files:
                rel = os.path.relpath(os.path.join(dirpath, name), os.path.join(CORE, layer, "include"))
                owner[rel.replace(os.sep, "/")] = layer
    return owner


def source_files(folder):
    for dirpath, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith((".cpp", ".hpp", ".h")):
                yield os.path.join(dirpath, name)


def static_check(owner):
    failures = []
    checked = 0
    for path in source_files(CORE):
        layer = layer_of(path)
        if layer not in ALLOWED:
            failures.append(f"{path}: not in a layer folder")
            continue
        for header in INCLUDE.findall(open(path, encoding="utf-8").read()):
            checked += 1
            if header in PRIVATE_HEADERS and PRIVATE_HEADERS[header] != layer:
                failures.append(f"{os.path.relpath(path, ROOT)}: includes {header}, private to core/{PRIVATE_HEADERS[header]}")
            target = owner.get(header)
            if target and target not in ALLOWED[layer]:
                failures.append(f"{os.path.relpath(path, ROOT)} ({layer}): includes {header} of the {target} layer above it")
    for host in ("cli", "wasm", "bench"):
        for path in source_files(os.path.join(ROOT, host)):
            for header in INCLUDE.findall(open(path, encoding="utf-8").read()):
                checked += 1
                if header in PRIVATE_HEADERS:
                    failures.append(f"{os.path.relpath(path, ROOT)}: a host includes {header}")
    return checked, failures


def compiles(includes, header):
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as probe:
        probe.write(f"#include <duroxide/{header}>\nint main() {{ return 0; }}\n")
    try:
        command = ["g++", "-std=c++20", "-fsyntax-only", probe.name]
        for layer in includes:
            command += ["-I", os.path.join(CORE, layer, "include")]
        return subprocess.run(command, capture_output=True).returncode == 0
    finally:
        os.unlink(probe.name)


def compiler_check():
    # (layer, its own include closure, a header of a layer above it, that layer)
    probes = [
        (["model"], "orchestration_context.hpp", "engine"),
        (["model"], "provider.hpp", "store"),
        (["model", "engine"], "runtime.hpp", "runtime"),
        (["model", "store"], "runtime_client.hpp", "clients"),
        (["model", "engine", "store"], "management_client.hpp", "clients"),
        (["model", "engine", "store", "runtime"], "json_views.hpp", "hosts"),
    ]
    failures = []
    for includes, header, upper in probes:
        if compiles(includes, header):
            failures.append(f"<duroxide/{header}> compiles with only {includes}")
        if not compiles(sorted(set(includes) | ALLOWED[upper]), header):
            failures.append(f"<duroxide/{header}> does not compile even with the {upper} layer")
    return len(probes), failures


def main():
    owner = header_layers()
    checked, failures = static_check(owner)
    probes, compile_failures = compiler_check()
    failures += compile_failures
    for failure in failures:
        print("layers:", failure)
    print(f"layers: {checked} includes and {probes} compiler probes checked")
    # One check per include and per probe; each failure line is one failed check.
    total = checked + probes
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
