#!/usr/bin/python3
"""check_include_cycles.py DIR [PREFIX] — fails when the modules of DIR depend on each other in
a cycle. A module is x.c with x.h; x depends on y when x.c or x.h includes "PREFIX/y.h", or when
x.c calls a function whose definition is in y.c (a declaration in a shared header hides such
an arrow from the include graph: that is how reconciler.c <-> reconcile_ops.c hid). Prints the
edges and every cycle found. PREFIX defaults to DIR's name (includes are "controller/x.h")."""
import os
import re
import sys

DEF = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{]*\)\s*\{", re.M)
CALL = re.compile(r"\b(\w+)\s*\(")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def module_graph(root, prefix):
    inc = re.compile(r'#\s*include\s+"%s/(\w+)\.h"' % re.escape(prefix))
    texts = {}
    for f in sorted(os.listdir(root)):
        if f.endswith((".c", ".h")):
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                texts[f] = COMMENT.sub(" ", fh.read())
    defined = {}  # function -> module that defines it (non-static definitions only)
    for f, t in texts.items():
        if f.endswith(".c"):
            for m in DEF.finditer(t):
                head = t[m.start():m.end()]
                if not head.lstrip().startswith("static"):
                    defined[m.group(1)] = f[:-2]
    edges = {}
    for f, t in texts.items():
        x = f[:-2]
        deps = edges.setdefault(x, set())
        deps.update(y for y in inc.findall(t) if y != x)
        if f.endswith(".c"):
            deps.update(defined[c] for c in CALL.findall(t) if c in defined and defined[c] != x)
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(edges.get(n, ())):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def main():
    root = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else os.path.basename(os.path.normpath(root))
    edges = module_graph(root, prefix)
    for x in sorted(edges):
        if edges[x]:
            print("%s -> %s" % (x, ", ".join(sorted(edges[x]))))
    found = cycles(edges)
    for c in found:
        print("CYCLE: " + " -> ".join(c))
    print("%d modules, %d cycles" % (len(edges), len(found)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
