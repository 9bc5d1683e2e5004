import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`item.rep_call`...), for fixtures that keep evidence of a failure
    (test_browser.py's screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
