"""Statistical disclosure control: small counts become "secret statistique".

Primary suppression: a cell counting 1 .. threshold-1 people or operations is not published.
Zero is published (nobody is disclosed by it).

Secondary suppression: a published table comes with margins the public also gets (the total of the
table, and the totals of each row and column, which other queries of the same API return). A
suppressed cell must not be recomputable from them: a *line* is a set of cells whose sum is
published. For every line, the suppressed cells of that line must be

- at least two (one alone is its margin minus the published cells), and
- together at least the threshold (otherwise margin − published reveals a small count anyway),

unless the line holds no other non-zero cell to suppress. While a line breaks the rule, its smallest
published non-zero cell is suppressed too (ties: the first in key order, so that the result does not
depend on the order rows came from the database), preferring cells that are not the only non-zero
cell of another line (suppressing those would only move the problem). Suppressing a cell can break
another line, so this runs to a fixed point; cells are only ever added, so it ends.

This is the classic heuristic of statistical offices for tables with margins; it does not defend
against every linear-programming attack on large linked tables, nor against differencing of
overlapping date ranges (the README says so).
"""

from collections import deque
from collections.abc import Hashable, Iterable


def suppress(
    cells: dict[Hashable, int], lines: Iterable[Iterable[Hashable]], threshold: int
) -> set[Hashable]:
    """The keys of ``cells`` that must not be published."""
    lines = [tuple(line) for line in lines]
    hidden = {key for key, value in cells.items() if 0 < value < threshold}
    if not hidden or threshold <= 1:
        return hidden
    lines_of: dict[Hashable, list[int]] = {}
    for index, line in enumerate(lines):
        for key in line:
            lines_of.setdefault(key, []).append(index)
    nonzero = [sum(1 for key in line if cells[key] > 0) for line in lines]

    # A work list of the lines to check: all of them at first, then those a new suppression touches.
    pending = deque(range(len(lines)))
    queued = set(pending)
    while pending:
        index = pending.popleft()
        queued.discard(index)
        line = lines[index]
        hidden_here = [key for key in line if key in hidden]
        if not hidden_here:
            continue
        if len(hidden_here) >= 2 and sum(cells[key] for key in hidden_here) >= threshold:
            continue
        candidates = [key for key in line if key not in hidden and cells[key] > 0]
        if not candidates:
            continue  # the whole line is hidden, or only zeros remain: nothing more to do here
        safe = [key for key in candidates if all(nonzero[other] > 1 for other in lines_of[key])]
        pick = min(safe or candidates, key=lambda key: (cells[key], _sort_key(key)))
        hidden.add(pick)
        for other in [index, *lines_of[pick]]:
            if other not in queued:
                pending.append(other)
                queued.add(other)
    return hidden


def _sort_key(key):
    return tuple(str(part) for part in key) if isinstance(key, tuple) else (str(key),)
