"""Data validation: Great Expectations suites, the quarantine they feed, and readable reports.

Import the submodules directly: ``catalog_suite`` pulls in Great Expectations (seconds to
import), while ``report`` stays light so other suites can reuse it.
"""
