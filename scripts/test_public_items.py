"""Tests of public-items.py on small rustdoc JSON documents
(`python3 -m unittest discover -s scripts -p 'test_*.py'`)."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "public-items.py")
spec = importlib.util.spec_from_file_location("public_items", SCRIPT)
public_items = importlib.util.module_from_spec(spec)
spec.loader.exec_module(public_items)


def item(kind, visibility="public", **inner):
    return {"visibility": visibility, "inner": {kind: inner}}


# root: pub mod a { pub struct S; impl S { pub fn f(); fn g(); } impl Clone for S }
#       mod hidden { pub struct H }, pub use hidden::H, pub use a::S (again)
DOC = {
    "root": 0,
    "index": {
        "0": item("module", items=[1, 5, 7, 8]),
        "1": item("module", items=[2]),
        "2": item("struct", impls=[3, 4]),
        "3": item("impl", trait=None, items=[10, 11]),
        "4": item("impl", trait={"path": "Clone"}, items=[12]),
        "5": item("module", visibility="crate", items=[6]),
        "6": item("struct", impls=[]),
        "7": item("use", id=6),
        "8": item("use", id=2),
        "10": item("function"),
        "11": item("function", visibility="default"),
        "12": item("function", visibility="default"),
    },
}


class PublicItems(unittest.TestCase):
    def test_counts_what_a_user_can_name_once(self):
        counts = public_items.count(DOC)
        # The root, `a`, S (once though re-exported), H through its
        # re-export, S::f; not the private module, g, nor the trait impl.
        self.assertEqual(dict(counts), {"module": 2, "struct": 2, "method": 1})

    def test_the_budget_fails_the_run(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(DOC, f)
        try:
            over = subprocess.run([sys.executable, SCRIPT, "--json", f.name, "--max", "4"],
                                  capture_output=True, text=True)
            within = subprocess.run([sys.executable, SCRIPT, "--json", f.name, "--max", "5"],
                                    capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(over.returncode, 1, over.stdout)
        self.assertIn("5 public items", over.stdout)
        self.assertIn("budget of 4", over.stdout)
        self.assertEqual(within.returncode, 0, within.stdout)


if __name__ == "__main__":
    unittest.main()
