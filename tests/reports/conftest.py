"""Report fixtures: the feedback area's employees (inserted in one statement) and messages
published to every one of them."""

from tests.feedback.conftest import people, published

__all__ = ["people", "published"]
