"""Helpers the test modules share: import them from here, never from another ``test_*`` module.

``problems``: problem+json assertions and the audit event a response names; ``consent_flow``: a consent
request approved through the API and the lookup body that uses it; ``pages``: signing in through the login
form and two cookie-keeping browsers on one app. Fixtures shared by everything stay in ``tests/conftest.py``.
"""

import pytest

# Plain ``assert`` in these helpers reports its operands like an assert in a test module does.
pytest.register_assert_rewrite(f"{__name__}.problems", f"{__name__}.consent_flow", f"{__name__}.pages")
