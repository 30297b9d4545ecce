"""Problem records shared by the loaders and the data-quality checks.

Loading never drops, clips or repairs anything silently: each problem becomes an
:class:`Issue` (file, location, code, severity, message) in an :class:`IssueLog`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum

from rich.console import Console
from rich.table import Table

from yolops.errors import DataLoadError


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Issue:
    """One problem found in a dataset.

    ``path`` is the file it was found in (relative to the dataset root when
    possible), ``location`` the element inside it (``line 3``, ``object 2``,
    ``annotation id 17``), ``code`` a stable machine-readable name.
    """

    code: str
    severity: Severity
    message: str
    path: str | None = None
    location: str | None = None
    image_id: str | None = None

    def __str__(self) -> str:
        where = self.path or "<dataset>"
        if self.location:
            where = f"{where} ({self.location})"
        return f"{where}: [{self.severity}] {self.code}: {self.message}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d


@dataclass
class IssueLog:
    """An append-only list of issues with summaries."""

    issues: list[Issue] = field(default_factory=list)

    def add(
        self,
        code: str,
        severity: Severity | str,
        message: str,
        path: str | None = None,
        location: str | None = None,
        image_id: str | None = None,
    ) -> Issue:
        issue = Issue(code, Severity(severity), message, path, location, image_id)
        self.issues.append(issue)
        return issue

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def at_least(self, severity: Severity | str) -> list[Issue]:
        rank = Severity(severity).rank
        return [i for i in self.issues if i.severity.rank >= rank]

    def by_code(self) -> Counter:
        return Counter(i.code for i in self.issues)

    def by_severity(self) -> Counter:
        return Counter(i.severity.value for i in self.issues)

    def raise_if_any(
        self, severity: Severity | str = Severity.WARNING, what: str = "dataset"
    ) -> None:
        """Raise one :class:`DataLoadError` that lists every issue at or above ``severity``."""
        bad = self.at_least(severity)
        if not bad:
            return
        lines = "\n".join(f"  - {i}" for i in bad)
        raise DataLoadError(f"{what}: {len(bad)} problem(s) found in strict mode:\n{lines}", bad)


# -- in the terminal ---------------------------------------------------------------------

_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def print_issues(
    issues: IssueLog, out: Console, title: str = "Load report", examples: int = 3
) -> None:
    """A summary of what loading set aside or warned about: one row per code,
    with a few examples naming the file. Prints nothing when there is nothing."""
    if not issues:
        return
    groups: dict[tuple[Severity, str], list[Issue]] = defaultdict(list)
    for i in issues:
        groups[(i.severity, i.code)].append(i)
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("severity")
    table.add_column("code")
    table.add_column("count", justify="right")
    table.add_column("examples (file: problem)", overflow="fold")
    for (sev, code), items in sorted(groups.items(), key=lambda kv: (-kv[0][0].rank, kv[0][1])):
        shown = "\n".join(_where(i) + i.message for i in items[:examples])
        if len(items) > examples:
            shown += f"\n… and {len(items) - examples} more"
        table.add_row(f"[{_STYLE[sev]}]{sev}[/]", code, str(len(items)), shown)
    out.print(table)
    counts = issues.by_severity()
    out.print(
        f"[red]{counts.get('error', 0)} error(s)[/] (records set aside), "
        f"[yellow]{counts.get('warning', 0)} warning(s)[/] (loaded, worth a look), "
        f"{counts.get('info', 0)} note(s). Use --strict to fail on any of them."
    )


def _where(issue: Issue) -> str:
    where = issue.path or issue.image_id or ""
    if issue.location:
        where += f" ({issue.location})"
    return f"{where}: " if where else ""
