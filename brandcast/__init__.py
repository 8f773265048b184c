"""Helpers for programs that receive Brandcast's webhooks."""
