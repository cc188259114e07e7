"""Every page of the running dashboard in headless Chromium at 10M events: first render and memory.

Usage: python bench/bench_pages.py [--users 125000] [--days 120] [--runs 3] [--write BENCHMARKS.md]

It reuses (or builds) the demo warehouse of ``bench_queries.py`` in bench/out/, copies it to a
scratch folder (pages derive and store per-version data, and the recommender is trained there once
with ``python -m engine train recs`` so that the Recommendations page shows a model instead of
starting a training), starts ``streamlit run app.py`` on it and, with Playwright driving the
system's Chromium (never a downloaded browser), opens each page in a new tab and times:

- cold: the first visit of the page after the server started (its caches are empty), clicking its
  link in the top bar's menu from the Admin page, until the page's own marker text is shown and the
  script has stopped running;
- warm: the median of ``--runs`` later visits the same way (the caches answer);
- new tab: the median of ``--runs`` visits in a new browser tab (a new session), which adds
  loading Streamlit's web app and opening its connection to the warm page.

The warehouse copy has no derived results yet, as after a command-line import: the first view starts
the server's thread that derives them, and the visits start once it has stored the last of them.

Peak memory is the dashboard server's own peak resident set (``VmHWM``) after every page was
visited; the background training process is measured separately by ``bench_recs.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import write_section  # noqa: E402
from bench_queries import warehouse_for  # noqa: E402

from tests.dashboard import CHROMIUM, CHROMIUM_ARGS, start_dashboard, stop_dashboard  # noqa: E402

#: (menu title, url path, text the page shows once its main content is there)
PAGES = [
    ("Overview", "", "Key figures"),
    ("Retention", "retention", "Who is behind a cell"),
    ("Funnels", "funnels", "Who dropped off"),
    ("Content and campaigns", "content", "Top 10"),
    ("Communities and lifecycle", "communities", "Leaderboard"),
    ("Experiments and campaigns", "experiments", "Coupon campaigns"),
    ("Share graph", "share-graph", "Key sharers"),
    ("Segments", "segments", "Compared with everyone"),
    ("User 360", "user", "Timeline"),
    ("Recommendations", "recommendations", "Model trained"),
    ("Churn and propensity", "churn", "Active (censored)"),
    ("Growth", "growth", "Models on the chart"),
    ("Upload data", "upload", "Drop export files here"),
    ("Admin", "admin", "Audit trail"),
]


def peak_memory_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


DONE = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")


def _wait_rendered(tab, marker: str, timeout_ms: int) -> None:
    """Until ``marker`` is shown and Streamlit's status widget no longer says "Running"."""
    try:
        tab.get_by_text(marker).first.wait_for(timeout=timeout_ms)
        tab.wait_for_function(DONE, timeout=timeout_ms, polling=50)
    except Exception:
        shot = ROOT / "bench" / "out" / "bench-pages-failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"{tab.url}: no {marker!r} within {timeout_ms / 1000:.0f} s; screenshot {shot}", flush=True)
        raise
    if tab.locator('[data-testid="stException"]').count():
        raise SystemExit(f"{tab.url} shows an exception")


def new_tab_seconds(browser, url: str, marker: str, timeout_ms: int = 60_000) -> float:
    """Seconds from opening ``url`` in a new tab until the page has rendered."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        started = time.perf_counter()
        tab.goto(url)
        _wait_rendered(tab, marker, timeout_ms)
        return time.perf_counter() - started
    finally:
        tab.close()


def click_seconds(tab, title: str, marker: str, timeout_ms: int = 60_000) -> float:
    """Seconds from clicking ``title`` in the top bar's menu until that page has rendered (the section's
    drop-down is opened first, outside the timing)."""
    from ui.menu import PAGES

    section = next(name for name, entries in PAGES.items() if any(t == title for _, t, *_ in entries))
    tab.locator('[data-testid="stTopNav"]').get_by_text(section, exact=True).click()
    link = tab.get_by_text(title, exact=True).last
    link.wait_for(timeout=10_000)
    started = time.perf_counter()
    link.click()
    _wait_rendered(tab, marker, timeout_ms)
    return time.perf_counter() - started


def wait_for_derivation(db: Path, version: int, started: float, timeout: float = 300) -> float | None:
    """Seconds from the first view until the server's thread has derived this version's tags and
    churn results (it stores the churn model check last), so that the cold visits below measure the
    pages, not that thread; None when it did not finish within ``timeout``."""
    from engine.store.results import results_folder

    last = results_folder(db) / f"churn-evaluation-h30-v{version}.json"
    while not last.exists():
        if time.perf_counter() - started > timeout:
            print(f"the server's derivation did not finish within {timeout:.0f} s", flush=True)
            return None
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    print(f"the server derived tags and churn results {seconds:.1f} s after the first view", flush=True)
    return seconds


def prepare(users: int, days: int, folder: Path) -> Path:
    source = warehouse_for(users, days)
    db = folder / "pond.duckdb"
    shutil.copy(source, db)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "--warehouse", str(db), "train", "recs"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"trained the recommender in {time.perf_counter() - started:.0f} s", flush=True)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=125_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="replace this benchmark's section in the given Markdown file")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from engine.store import warehouse

    folder = Path(tempfile.mkdtemp(prefix="pond-bench-pages-"))
    try:
        db = prepare(args.users, args.days, folder)
        with warehouse.connect(db) as con:
            events = con.execute("select count(*) from events").fetchone()[0]
            version = warehouse.data_version(con)
        server, url = start_dashboard({"POND_WAREHOUSE": str(db)}, folder / "streamlit.log", timeout=120)
        rows = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                home = PAGES[-1]  # Admin: cheap, and none of the other markers is on it
                started = time.perf_counter()
                tab.goto(f"{url}/{home[1]}")
                _wait_rendered(tab, home[2], 120_000)
                derived = wait_for_derivation(db, version, started)
                for title, path, marker in PAGES[:-1]:
                    cold = click_seconds(tab, title, marker)
                    warm = []
                    for _ in range(args.runs):
                        click_seconds(tab, home[0], home[2])
                        warm.append(click_seconds(tab, title, marker))
                    fresh = statistics.median(new_tab_seconds(browser, f"{url}/{path}", marker)
                                              for _ in range(args.runs))
                    rows.append((title, cold, statistics.median(warm), fresh))
                    print(f"{title:28} cold {cold:6.2f} s   warm {rows[-1][2]:6.2f} s   new tab {fresh:6.2f} s",
                          flush=True)
                browser.close()
            peak, current = peak_memory_mb(server.pid)
        finally:
            stop_dashboard(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"dashboard server memory: peak {peak:,.0f} MB, after the run {current:,.0f} MB")
    if args.write:
        lines = [
            f"`python bench/bench_pages.py --users {args.users} --days {args.days} --runs {args.runs} "
            f"--write BENCHMARKS.md` on {platform.machine()}, {os.cpu_count()} cores, headless Chromium "
            f"driven by Playwright; {events:,} events. Seconds from a click on the page's link in the sidebar "
            "until the page's own content is shown and its script has finished. Cold = the first visit after "
            f"the server started (empty caches); warm = median of {args.runs} later visits; new tab = median "
            f"of {args.runs} visits in a new browser tab, which adds loading the web app and its connection. "
            "The warehouse is a fresh copy, as after a command-line import: the first view starts a thread of "
            "the server that derives the interest tags and the churn models' results for this version"
            + (f", which took {derived:.1f} s; the visits start after it." if derived is not None
               else "; it had not finished when the visits started."),
            "",
            "| page | cold s | warm s | new tab s |",
            "|---|---:|---:|---:|",
            *(f"| {title} | {cold:.2f} | {warm:.2f} | {fresh:.2f} |" for title, cold, warm, fresh in rows),
            "",
            f"Dashboard server peak memory (VmHWM) after visiting every page: **{peak:,.0f} MB** "
            f"({current:,.0f} MB resident at the end; target under 2 GB).",
        ]
        title = "Every page in the browser at 10M events"
        write_section(args.write, f"## {title}\n\n" + "\n".join(lines) + "\n", title)


if __name__ == "__main__":
    main()
