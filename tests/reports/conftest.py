"""Report fixtures: the feedback area's `people` (employees inserted in one statement)."""

from tests.feedback.conftest import people

__all__ = ["people"]
