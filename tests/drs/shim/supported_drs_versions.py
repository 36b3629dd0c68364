# drs-compliance-suite 1.0.3's compliance_suite/helper.py imports this top-level module, which
# upstream is a file at its repository's root and its wheel leaves out: the suite does not start
# without it. This directory is put on PYTHONPATH when the suite runs (tests/test_drs.py).
SUPPORTED_DRS_VERSIONS = ["1.2.0"]
