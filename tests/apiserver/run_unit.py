#!/usr/bin/python3
"""Runs the pure-module unit tests (tests/apiserver/unit/test_*.py) with unittest discovery;
fails when a test fails or when none are found."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, here)
suite = unittest.defaultTestLoader.discover(os.path.join(here, "unit"), top_level_dir=here)
if suite.countTestCases() == 0:
    sys.exit("no unit tests found under %s/unit" % here)
result = unittest.TextTestRunner(verbosity=1).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
