"""Tests of module-cycles.py on small crates written for each case
(`python3 -m unittest discover -s scripts -p 'test_*.py'`)."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "module-cycles.py")
spec = importlib.util.spec_from_file_location("module_cycles", SCRIPT)
module_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module_cycles)


def run(files):
    """Runs the script on a crate of these files; (exit status, output)."""
    with tempfile.TemporaryDirectory() as src:
        for rel, text in files.items():
            path = os.path.join(src, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        done = subprocess.run([sys.executable, SCRIPT, src], capture_output=True, text=True)
        return done.returncode, done.stdout


class ModuleCycles(unittest.TestCase):
    def test_layers_without_a_cycle_pass(self):
        code, out = run({
            "lib.rs": "mod low;\nmod high;\npub use high::Top;\n",
            "low.rs": "pub(crate) struct Low;\n",
            "high.rs": "use crate::low::Low;\npub struct Top(Low);\n",
        })
        self.assertEqual(code, 0, out)
        self.assertIn("0 cycles", out)

    def test_a_cycle_through_a_root_reexport_is_found(self):
        # `config` names `alert` only through the name the root re-exports.
        code, out = run({
            "lib.rs": "mod alert;\nmod config;\npub use alert::Alerts;\npub use config::Builder;\n",
            "config.rs": "pub struct Builder { alerts: Option<crate::Alerts> }\n",
            "alert.rs": "pub struct Alerts;\nimpl crate::Builder { fn alerts(self) {} }\n",
        })
        self.assertEqual(code, 1, out)
        self.assertIn("module cycle: alert <-> config", out)

    def test_a_cycle_between_submodules_counts_for_their_top_modules(self):
        code, out = run({
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "mod inner;\n",
            "a/inner.rs": "use crate::{b::deep::B, a::inner as _};\npub(crate) struct A;\n",
            "b/mod.rs": "pub(crate) mod deep;\n",
            "b/deep.rs": "pub(crate) struct B(crate::a::inner::A);\n",
        })
        self.assertEqual(code, 1, out)
        self.assertIn("module cycle: a <-> b", out)
        self.assertIn("file cycle: a/inner.rs <-> b/deep.rs", out)

    def test_a_cycle_through_a_parents_reexport_is_found(self):
        code, out = run({
            "lib.rs": "mod q;\n",
            "q/mod.rs": "mod rows;\nmod stream;\npub use rows::Counter;\npub use stream::Format;\n",
            "q/rows.rs": "use super::Format;\npub struct Counter(Format);\n",
            "q/stream.rs": "use super::Counter;\npub struct Format;\nfn f(_: Counter) {}\n",
        })
        self.assertEqual(code, 1, out)
        self.assertIn("file cycle: q/rows.rs <-> q/stream.rs", out)

    def test_tests_comments_and_strings_are_not_imports(self):
        code, out = run({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub(crate) struct A(B);\n"
                    "// crate::b is fine, and so is this: crate::a\n",
            "b.rs": "pub(crate) struct B;\n"
                    "/// [`A`](crate::a::A)\n"
                    "const S: &str = \"crate::a::A\";\n"
                    "const R: &str = r#\"use crate::a::A;\"#;\n"
                    "#[cfg(test)]\nmod tests {\n    use crate::a::A;\n    fn f() { let _ = '{'; }\n}\n"
                    "#[cfg(all(test, loom))]\nmod model;\n",
            "b/model.rs": "use crate::a::A;\n",
        })
        self.assertEqual(code, 0, out)

    def test_a_binary_is_a_crate_of_its_own(self):
        code, out = run({
            "lib.rs": "mod a;\n",
            "a.rs": "pub(crate) struct A;\n",
            "bin/tool/main.rs": "mod args;\nmod conn;\n",
            "bin/tool/args.rs": "use crate::conn::Context;\npub(crate) struct Global;\n",
            "bin/tool/conn.rs": "use crate::args::Global;\npub(crate) struct Context;\n",
        })
        self.assertEqual(code, 1, out)
        self.assertIn("bin/tool/main.rs: module cycle: args <-> conn", out)
        self.assertNotIn("lib.rs: module cycle", out)

    def test_use_trees(self):
        self.assertEqual(
            module_cycles.use_paths("crate::{a::{b, c as d}, e::self}"),
            [(("crate", "a", "b"), "b"), (("crate", "a", "c"), "d"), (("crate", "e"), "e")],
        )


if __name__ == "__main__":
    unittest.main()
