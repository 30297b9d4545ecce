"""The terminal: one Rich console, and how issues and errors are shown."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from yolops.issues import Issue, IssueLog, Severity

console = Console()
err_console = Console(stderr=True)

_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def print_issues(
    issues: IssueLog, title: str = "Load report", examples: int = 3, out: Console = console
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
