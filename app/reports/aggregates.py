"""The minimum-group rule, the one implementation every report uses: message stats, feedback
figures and the brand-alignment report.

A group (department, division, location, country) is shown on its own only when at least
`min_group_size` people stand behind the figure; the others are summed into one `"(other)"`
row. Subtracting the groups shown from the total gives exactly `"(other)"`, so `"(other)"`
must be large enough too: when it would hold more than nobody but fewer than the minimum, the
smallest groups shown join it (one by one) until it does not. If nothing is left to show, the
`"(other)"` row is the whole, and a whole under the minimum shows no pulse figures at all.

Each measure is partitioned on its own people: recipients for reach, employees who reacted for
reactions, employees who answered for the pulse. The reach partition comes first and the others
only keep groups it kept, so a group shown for its pulse is also shown for its reach.

What this does not stop: figures are exact, so two requests over different data (a period a
day longer, a message with one more answer since the last look) can still be subtracted from
each other; the rule protects each response, not a series of them.
"""

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

OTHER = "(other)"
UNKNOWN = "(unknown)"

Group = TypeVar("Group", bound=Hashable)


# The employee attribute a report groups by: the units of the company. (No docstring: it
# would become the description of the schema in the OpenAPI document.)
class GroupBy(StrEnum):
    DEPARTMENT = "department"
    DIVISION = "division"
    LOCATION = "location"
    COUNTRY = "country"


class ReportGroupBy(StrEnum):
    """`GroupBy`, and for reports over recipients also `edition`: HQ's text (`HQ`) against
    each local edition (its unit key), as served to the recipients (app/editions)."""

    DEPARTMENT = "department"
    DIVISION = "division"
    LOCATION = "location"
    COUNTRY = "country"
    EDITION = "edition"


# the group of recipients served HQ's text, with `ReportGroupBy.EDITION`
HQ_TEXT = "HQ"


def _order(group: Any) -> tuple[bool, str]:
    # a group key may be None (attribute not set): it sorts after every named group
    return (group is None, "" if group is None else str(group))


def largest_first(sizes: Mapping[Group, int], groups: Iterable[Group]) -> list[Group]:
    """`groups` by size, largest first; equal sizes by name."""
    return sorted(groups, key=lambda g: (-sizes[g], _order(g)))


def standalone_groups(
    sizes: Mapping[Group, int], minimum: int, *, among: Collection[Group] | None = None
) -> set[Group]:
    """The groups that may be shown on their own; all others go to `"(other)"`.

    `sizes` counts the people behind each group's figure; `among` limits the candidates (the
    groups an earlier partition kept).
    """
    shown = {g for g, n in sizes.items() if n >= minimum and (among is None or g in among)}
    rest = sum(n for g, n in sizes.items() if g not in shown)
    while 0 < rest < minimum and shown:
        smallest = largest_first(sizes, shown)[-1]  # the last row of the table
        shown.remove(smallest)
        rest += sizes[smallest]
    return shown


@dataclass(frozen=True)
class Partition:
    """Which groups a measure shows (largest first), and the sums of those it merges."""

    shown: list[Any]
    other: dict[str, int]
    other_size: int


def partition(
    rows: Mapping[Group, Mapping[str, int]],
    *,
    size: Callable[[Mapping[str, int]], int],
    minimum: int,
    among: Collection[Group] | None = None,
) -> Partition:
    """Split per-group sums (`rows[group][field]`) into shown groups and one summed rest."""
    sizes = {g: size(r) for g, r in rows.items()}
    shown = standalone_groups(sizes, minimum, among=among)
    merged = [r for g, r in rows.items() if g not in shown]
    return Partition(
        shown=largest_first(sizes, shown),
        other=add_up(merged),
        other_size=sum(n for g, n in sizes.items() if g not in shown),
    )


def add_up(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Field-wise sums of a few aggregate rows (groups, never individual records)."""
    total: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            total[key] = total.get(key, 0) + (value or 0)
    return total


def group_label(value: object) -> str:
    return UNKNOWN if value is None or value == "" else str(value)


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _min_group_size(request: Request) -> int:
    return request.app.state.settings.min_group_size


# The configured minimum group size, for routers that hand it to a service.
MinGroupSize = Annotated[int, Depends(_min_group_size)]
