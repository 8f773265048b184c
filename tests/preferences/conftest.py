from tests.me.conftest import client_with, employee  # noqa: F401
