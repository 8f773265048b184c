"""Action fixtures: the feedback area's employees, employee clients and published messages."""

from tests.feedback.conftest import as_employee, everyone, people, published  # noqa: F401
