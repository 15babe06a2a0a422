#!/usr/bin/env python3
"""Import cycles of a Rust crate, between its files and between its top-level
modules; exits 1 if there is any.

    scripts/module-cycles.py [SRC]      (SRC defaults to src)

The library (SRC/lib.rs) and each binary (SRC/main.rs, SRC/bin/NAME.rs,
SRC/bin/NAME/main.rs) are crates of their own: `crate::` in a binary is the
binary. An edge goes from a file to the file of the module a path names:
`crate::a::b`, `super::x`, `self::x` and, in `use` trees (braces
included), a first segment that is a child module. A name a module
re-exports (`pub use`, `pub(crate) use`, ...; the crate root's included) is
followed to the module that defines it, so `crate::Builder` is an edge to
`config` when lib.rs says `pub use config::Builder`.

Not counted: comments and string literals; test-only modules (declared
under `#[cfg(test)]` or `#[cfg(all(test, ...))]`, inline or in a file of
their own), whose imports are not the crate's layering; and an edge from a
module to one of its own ancestors that no re-export resolves further
(every ancestor declares its descendants, so such an edge is the module
tree itself, not a layer above).

A cycle between top-level modules is what a reader sees as two layers each
using the other; one between files is the same inside a module.
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TEST_CFG = re.compile(r"#\[cfg\(\s*(?:all\(\s*)?test\b")


def strip_comments_and_strings(text):
    """The source with comments, string and char literals blanked (lines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif re.match(r'b?r(#*)"', text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(text, open_at):
    """Index just past the brace that closes the one at `open_at`."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def module_path(rel):
    """Module path of a file: "a/mod.rs" -> ("a",), "a/b.rs" -> ("a", "b")."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def use_paths(tree, prefix=()):
    """The paths of a `use` tree: `a::{b, c::d as e, self}` -> (path, alias)."""
    tree = tree.strip()
    if not tree:
        return []
    # Split the top level on commas (braces nest).
    parts, depth, start = [], 0, 0
    for i, c in enumerate(tree):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(tree[start:i])
            start = i + 1
    parts.append(tree[start:])
    if len(parts) > 1:
        return [p for part in parts for p in use_paths(part, prefix)]
    item = parts[0].strip()
    brace = item.find("{")
    if brace >= 0:
        head = [s for s in item[:brace].split("::") if s.strip()]
        inner = item[brace + 1:item.rfind("}")]
        return use_paths(inner, prefix + tuple(s.strip() for s in head))
    alias = None
    m = re.match(r"(.*?)\s+as\s+(" + IDENT + r")$", item)
    if m:
        item, alias = m.group(1), m.group(2)
    segs = tuple(s.strip() for s in item.split("::") if s.strip())
    if segs and segs[-1] == "self":
        segs = segs[:-1]
    path = prefix + segs
    if not path:
        return []
    return [(path, alias or path[-1])]


class Crate:
    def __init__(self, src, root_rel, rels):
        self.src = src
        self.root = module_path(root_rel)  # () for lib.rs, ("bin", "x") for bin/x/main.rs
        self.files = {}  # module path (relative to the crate root) -> file
        self.text = {}
        for rel in rels:
            path = module_path(rel)[len(self.root):]
            if rel == root_rel:
                path = ()
            self.files[path] = rel
        for path, rel in self.files.items():
            with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
                self.text[path] = strip_comments_and_strings(f.read())
        self.test_only = set()
        self.inline_tests = {}
        self.find_test_modules()
        # Per module: name -> absolute path it re-exports.
        self.reexports = {p: {} for p in self.files}
        self.uses = {p: [] for p in self.files}
        for path in self.files:
            self.read_uses(path)

    def find_test_modules(self):
        for path, text in self.text.items():
            spans = []
            for m in re.finditer(r"(#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])", text):
                attrs = m.group(0)
                if not TEST_CFG.search(attrs):
                    continue
                child = path + (m.group(2),)
                if m.group(3) == ";":
                    self.test_only.update(p for p in self.files if p[:len(child)] == child)
                else:
                    spans.append((m.start(), matching_brace(text, m.end() - 1)))
            for start, end in reversed(spans):
                text = text[:start] + "\n" * text.count("\n", start, end) + text[end:]
            self.text[path] = text

    def child_modules(self, path):
        return {p[len(path)] for p in self.files if len(p) > len(path) and p[:len(path)] == path}

    def absolute(self, path, segs):
        """`segs` as written in module `path`, from the crate root; None if external."""
        segs = list(segs)
        if not segs:
            return None
        if segs[0] == "crate":
            return tuple(segs[1:])
        base = list(path)
        if segs[0] in ("self", "super"):
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    if not base:
                        return None
                    base.pop()
            return tuple(base + segs)
        if segs[0] in self.child_modules(path) or segs[0] in self.reexports.get(path, {}):
            return tuple(base + segs)
        return None

    def read_uses(self, path):
        text = self.text[path]
        for m in re.finditer(r"(\bpub(?:\s*\([^)]*\))?\s+)?\buse\s+([^;]*);", text):
            public = m.group(1) is not None
            for segs, alias in use_paths(m.group(2)):
                if segs[-1] == "*":
                    continue
                target = self.absolute(path, segs)
                if target is None:
                    continue
                self.uses[path].append(target)
                if public:
                    self.reexports[path][alias] = target

    def resolve(self, target, seen=None):
        """The file of the module that defines what `target` names, following re-exports."""
        seen = seen or set()
        if target in seen:
            return None
        seen.add(target)
        for k in range(len(target), -1, -1):
            module = target[:k]
            if module in self.files:
                rest = target[k:]
                if rest and rest[0] in self.reexports.get(module, {}):
                    return self.resolve(self.reexports[module][rest[0]] + rest[1:], seen)
                return module
        return None

    def edges(self):
        paths = re.compile(r"\b(?:crate|super|self)(?:\s*::\s*" + IDENT + r")+")
        edges = {}
        for path in self.files:
            if path in self.test_only:
                continue
            targets = list(self.uses[path])
            for m in paths.finditer(self.text[path]):
                segs = [s.strip() for s in m.group(0).split("::")]
                target = self.absolute(path, segs)
                if target is not None:
                    targets.append(target)
            out = set()
            for target in targets:
                module = self.resolve(target)
                if module is None or module == path or module in self.test_only:
                    continue
                if path[:len(module)] == module:
                    continue  # an ancestor: the module tree itself
                out.add(module)
            edges[path] = out
        return edges


def cycles(edges):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def crate_roots(src):
    rels = []
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                rels.append(os.path.relpath(os.path.join(root, name), src).replace(os.sep, "/"))
    roots = [r for r in rels if r in ("lib.rs", "main.rs")]
    roots += [r for r in rels if re.fullmatch(r"bin/[^/]+\.rs|bin/[^/]+/main\.rs", r)]
    crates = []
    for root in sorted(roots):
        if root.startswith("bin/"):
            base = root[:-len("/main.rs")] if root.endswith("/main.rs") else root[:-3]
            members = [r for r in rels if r == root or r.startswith(base + "/")]
        else:
            members = [r for r in rels if not r.startswith("bin/") and r not in ("lib.rs", "main.rs") or r == root]
        crates.append((root, members))
    return crates


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    total = 0
    for root, members in crate_roots(src):
        crate = Crate(src, root, members)
        edges = crate.edges()
        name = lambda p: crate.files[p]
        for component in cycles(edges):
            print(f"{root}: file cycle: " + " <-> ".join(name(p) for p in component))
            total += 1
        top = {}
        for a, targets in edges.items():
            for b in targets:
                if a and b and a[0] != b[0]:
                    top.setdefault(a[0], set()).add(b[0])
        for component in cycles(top):
            print(f"{root}: module cycle: " + " <-> ".join(component))
            for a in component:
                for b in sorted(top.get(a, ())):
                    if b in component:
                        via = sorted(
                            f"{name(x)} -> {name(y)}"
                            for x, ys in edges.items() if x and x[0] == a
                            for y in ys if y and y[0] == b
                        )
                        print(f"    {a} -> {b}: {', '.join(via)}")
            total += 1
        modules = {p[0] for p in crate.files if p}
        print(f"{root}: {len(crate.files)} files, {len(modules)} top-level modules")
    print(f"{total} cycles")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
