"""axe-core in the browser tests: the vendored file (tests/e2e/vendor, `make vendor-axe`) is added to
every page of a browser context before the page's own scripts run, so the pages' Content-Security-
Policy stays as strict as in production."""

import json
from pathlib import Path

VENDOR = Path(__file__).parent / "vendor"
SCRIPT = VENDOR / "axe.min.js"
VERSION = json.loads((VENDOR / "package.json").read_text())["devDependencies"]["axe-core"]
# WCAG 2.1 A and AA, and axe's best practices; only these impacts fail a test.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")


def install(context) -> None:
    context.add_init_script(path=str(SCRIPT))


def violations(page, exclude: tuple[str, ...] = ()) -> list[dict]:
    """axe's serious and critical violations on the page as it is now, each with where it is."""
    found = page.evaluate(
        """async ([tags, exclude]) => {
            const context = exclude.length ? {include: [document], exclude: exclude.map(s => [s])} : document;
            const result = await axe.run(context, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(
                    n => n.target.join(" ") + ": " + n.failureSummary.split("\\n").slice(1, 2).join("")
                )
            }));
        }""",
        [TAGS, list(exclude)],
    )
    return [v for v in found if v["impact"] in FAILING_IMPACTS]


def report(url: str, found: list[dict]) -> str:
    return "\n".join(f"{url}: {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found)
