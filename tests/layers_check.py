#!/usr/bin/env python3
"""The include rule of src/layers.txt: a lower layer never includes a higher one.

Usage: layers_check.py SOURCE_DIR

Checks, and prints one line per breach (file:line: what), exiting 1 if there is any:
  - every public header include/retain/NAME.h (version.h.in counts as version) is owned by
    exactly one layer, and every header a layer names exists;
  - every C source or header under src/ lives in the folder of a layer (src/LAYER/...);
  - a file of layer L, and a header owned by L, includes "retain/X.h" only when X's layer
    is L or lower, and includes no other project file outside its own folder.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_layers(path, shown="src/layers.txt"):
    layers, owner = [], {}
    problems = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            name, headers = line[0], line[1:]
            if name in layers:
                problems.append(f"{shown}:{lineno}: layer '{name}' is listed twice")
            layers.append(name)
            for h in headers:
                if h in owner:
                    problems.append(f"{shown}:{lineno}: header retain/{h}.h is owned by both "
                                    f"'{owner[h]}' and '{name}'")
                owner[h] = name
    return layers, owner, problems


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield lineno, m.group(1)


def check(root):
    src = os.path.join(root, "src")
    inc = os.path.join(root, "include", "retain")
    layers, owner, problems = read_layers(os.path.join(src, "layers.txt"))
    rank = {name: i for i, name in enumerate(layers)}

    public = set()
    for name in sorted(os.listdir(inc)):
        if name.endswith(".h"):
            public.add(name[:-2])
        elif name.endswith(".h.in"):
            public.add(name[:-5])
    for h in sorted(public - owner.keys()):
        problems.append(f"include/retain/{h}.h: no layer owns it (add it to src/layers.txt)")
    for h in sorted(owner.keys() - public):
        problems.append(f"src/layers.txt: layer '{owner[h]}' names retain/{h}.h, which does not exist")

    def rule(path, rel, layer):
        for lineno, target in includes(path):
            if target.startswith("retain/") and target.endswith(".h"):
                h = target[len("retain/"):-2]
                if h not in owner:
                    continue  # reported above, or not a public header at all
                if rank[owner[h]] > rank[layer]:
                    problems.append(f"{rel}:{lineno}: {layer} (layer {rank[layer] + 1}) includes "
                                    f"{target}, owned by the higher layer {owner[h]} "
                                    f"(layer {rank[owner[h]] + 1})")
            elif "/" in target or ".." in target:
                problems.append(f"{rel}:{lineno}: includes \"{target}\": project files outside "
                                f"the file's own folder are reached only through include/retain/")

    for name in sorted(public & owner.keys()):
        fname = name + (".h" if os.path.exists(os.path.join(inc, name + ".h")) else ".h.in")
        rule(os.path.join(inc, fname), f"include/retain/{fname}", owner[name])

    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for fname in sorted(filenames):
            if not fname.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, fname)
            rel = os.path.relpath(path, root)
            parts = os.path.relpath(path, src).split(os.sep)
            if len(parts) < 2 or parts[0] not in rank:
                problems.append(f"{rel}: not in the folder of a layer (src/LAYER/, layers in "
                                f"src/layers.txt)")
                continue
            rule(path, rel, parts[0])
    return layers, problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    layers, problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} breach(es) of src/layers.txt")
        return 1
    print(f"layers: {' < '.join(layers)}: no file includes a higher layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
