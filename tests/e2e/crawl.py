"""The click-everything crawl's machinery (tests/e2e/test_crawl.py): open a page in Chromium,
check what a person would see on it, keep a screenshot, and follow its same-site links.

A page fails on any 5xx answer (the page or anything it loads), on raw markup in its visible
text, on an English interface string in the Dutch UI (a visible string that is a msgid our or
an installed app's catalog translates into Dutch), on a form field without the theme's styling,
and on axe-core's serious or critical violations (on every distinct page the crawl opens).
Problems are collected, not raised, so one run names every page that is wrong.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import axe_playwright_python
from playwright.sync_api import BrowserContext, Page, Response
from playwright.sync_api import Error as PlaywrightError

AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
RAW_MARKUP = ('class="', "{{", "{%", "&lt;", "&gt;", "&amp;")

# What a page shows a person, read in the page itself: its visible lines, the short strings of
# its controls (labels, buttons, headings, options, placeholders), and the form fields whose
# computed style is the browser's own or has no border (the theme gives every field one).
_READ_PAGE = """() => {
  // Icon fonts draw a word as a picture (unfold's sidebar: "campaign", "key"): not text.
  const icons = [...document.querySelectorAll('[class*=material-symbols], [class*=material-i')];
  const shown = icons.map(el => el.style.display);
  icons.forEach(el => { el.style.display = 'none'; });
  const visible = el => {
    const cs = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    // Moved off the page (a honeypot field for robots) counts as hidden, as for a person.
    return cs.display !== 'none' && cs.visibility !== 'hidden' && box.width > 1 && box.height > 1
      && box.right > 0 && box.bottom > 0;
  };
  const strings = [];
  const selector = 'label, button, a, h1, h2, h3, h4, h5, h6, th, legend, summary, dt, '
    + 'caption, [role=button], [role=tab], .badge, p, li, td, span, option';
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest('[data-user-content], svg, script, style, noscript')) continue;
    // Text marked as another language (the language switch's "English") is meant so.
    const marked = el.closest('[lang]');
    if (marked && marked.lang !== document.documentElement.lang) continue;
    if (el.tagName !== 'OPTION' && !visible(el)) continue;
    if (el.tagName === 'OPTION' && !(el.parentElement && (visible(el.parentElement)
        || el.closest('select.admin-autocomplete, select[data-theme]')))) continue;
    const text = (el.tagName === 'OPTION' ? el.textContent : el.innerText) || '';
    if (text.trim() && text.length < 200) strings.push(text.trim());
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label], '
      + 'input[type=submit][value], input[type=button][value]')) {
    if (el.closest('[data-user-content], svg')) continue;
    for (const name of ['placeholder', 'title', 'aria-label']) {
      const value = el.getAttribute(name);
      if (value && value.trim()) strings.push(value.trim());
    }
    if (el.tagName === 'INPUT' && (el.type === 'submit' || el.type === 'button') && el.value)
      strings.push(el.value.trim());
  }
  const plain = ['hidden', 'checkbox', 'radio', 'submit', 'button', 'file', 'image', 'reset',
    'range', 'color'];
  const unstyled = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.tagName === 'INPUT' && plain.includes(el.type)) continue;
    if (!visible(el) || el.classList.contains('select2-hidden-accessible')) continue;
    const cs = getComputedStyle(el);
    const sides = ['Top', 'Right', 'Bottom', 'Left'];
    const borderless = sides.every(s => parseFloat(cs['border' + s + 'Width']) === 0);
    // Chromium's own look: an inset border, or the user-agent grey rgb(118, 118, 118) with
    // square corners and the user agent's 1px x 2px padding.
    const browserDefault = cs.borderTopStyle === 'inset'
      || (cs.borderTopColor === 'rgb(118, 118, 118)' && cs.borderTopLeftRadius === '0px'
          && cs.paddingLeft === '2px');
    // A field drawn borderless inside a bordered box of the theme (unfold's search, select2).
    const boxed = [el.parentElement, el.parentElement && el.parentElement.parentElement]
      .some(p => p && sides.some(s => parseFloat(getComputedStyle(p)['border' + s + 'Width']) > 0));
    if ((borderless && !boxed) || browserDefault) {
      const name = el.getAttribute('name') || el.id || el.className || '?';
      unstyled.push(el.tagName.toLowerCase() + ' ' + name
        + (browserDefault ? ' (browser default style)' : ' (no border)'));
    }
  }
  const text = document.body ? document.body.innerText : '';
  icons.forEach((el, i) => { el.style.display = shown[i]; });
  return {text, strings, unstyled};
}"""


# The staff theme's navigation sidebar (unfold): identical on every staff page.
CHROME = "#nav-sidebar"
# axe-core with the rules of WCAG_21_AA, leaving out `chrome` when `skip`; also says whether
# the page has the chrome (a public page has not). null when axe is not loaded.
_RUN_AXE = """async ([tags, chrome, skip]) => {
  if (typeof axe === 'undefined') return null;
  const present = !!document.querySelector(chrome);
  const context = skip && present ? {exclude: [[chrome]]} : document;
  const results = await axe.run(context, {runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations']});
  return {violations: results.violations, chrome: present};
}"""


@cache
def translated_msgids() -> frozenset[str]:
    """Every interface string the Dutch catalogs translate (ours and installed apps'): seen as
    is on a Dutch page, it was not translated there."""
    from django.utils.translation import trans_real

    catalog = trans_real.translation("nl")._catalog
    found = set()
    for key, value in catalog.items():
        if isinstance(key, tuple):  # a plural form: (msgid, index)
            key = key[0]
        if not isinstance(key, str) or "\x04" in key or not value:
            continue  # the header, and context-qualified ids (URLs and the like)
        msgid = key.strip()
        if msgid != str(value).strip() and re.search(r"[A-Za-z]{2}", msgid) and "%" not in msgid:
            found.add(msgid)
    return frozenset(found)


def _normalised(line: str) -> str:
    return line.strip().rstrip(":*").strip()


def pattern_of(url: str) -> str:
    """One key per kind of page: ids and tokens become N and T, and the query does not count
    (a list's filters, sorting and search are pressed by the journeys). Every model's history
    and delete pages are Django's same two templates: one of each is enough."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/)", "/N", parts.path)
    path = re.sub(r"/[A-Za-z0-9_:.-]{24,}(?=/)", "/T", path)  # signed tokens
    return re.sub(r"^.*/N/(history|delete)/$", r"\1", path)


def with_axe(context: BrowserContext) -> BrowserContext:
    """A browser context whose every page has axe-core loaded before its own scripts."""
    context.add_init_script(script=AXE_JS)
    return context


@dataclass
class Crawler:
    """One browser page crawled as one person (a role, or a supporter) in one language."""

    page: Page
    base: str
    who: str
    language: str
    artifacts: Path
    ignore: Callable[[str, str], bool] = lambda _text, _url: False
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # where the crawl's time goes
    came_from: str = ""  # the page whose link is being followed, for error messages
    _seen: set[str] = field(default_factory=set)
    axe_checked: set[str] = field(default_factory=set)  # URLs axe has checked in this crawl
    chrome_checked: bool = False  # axe has checked the staff sidebar once in this crawl
    _shots: int = 0

    def _timed(self, what: str, started: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.monotonic() - started

    def __post_init__(self) -> None:
        self.page.on("response", self._on_response)

    def _on_response(self, response: Response) -> None:
        if response.status >= 500 and response.url.startswith(self.base):
            self.problems.append(f"{response.status} from {response.url}")

    # What is wrong with the page shown now.
    def check(self, label: str) -> None:
        page = self.page
        where = f"[{self.who}/{self.language}] {label} ({page.url.removeprefix(self.base)})"
        started = time.monotonic()
        seen: dict[str, Any] = page.evaluate(_READ_PAGE)
        for marker in RAW_MARKUP:
            for line in seen["text"].splitlines():
                if marker in line:
                    self.problems.append(f"{where}: raw markup {marker!r} in {line.strip()!r}")
        self.problems += [f"{where}: unstyled {name}" for name in seen["unstyled"]]
        if self.language == "nl":
            english = translated_msgids()
            candidates = {_normalised(s) for s in seen["strings"]}
            candidates |= {_normalised(s) for s in seen["text"].splitlines()}
            for text in sorted(candidates):
                if text in english and not self.ignore(text, page.url):
                    self.problems.append(f"{where}: English {text!r}")
        self._timed("read", started)
        # Every distinct page (not one of each kind): two lists of one kind differ in their
        # rows, filters and empty states. The same URL checked again after a button (a
        # pause, a resume) is the same page.
        if page.url not in self.axe_checked:
            self.axe_checked.add(page.url)
            started = time.monotonic()
            self.problems += [f"{where}: {v}" for v in self.axe_violations()]
            self._timed("axe", started)
        self._shots += 1
        name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:80] or "page"
        shot = self.artifacts / f"{self._shots:03d}-{name}.jpg"
        started = time.monotonic()
        page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=70)
        self._timed("screenshot", started)

    def axe_violations(self) -> list[str]:
        # The theme's sidebar is the same on every staff page (only its highlighted item
        # moves) and a long list of links: checked in full on a crawl's first page with it,
        # left out after that.
        # Normally axe is already there (with_axe: given once per browser context, run at each
        # page's start), so the 500 kB script does not cross the wire for every page.
        results = self.page.evaluate(_RUN_AXE, [WCAG_21_AA, CHROME, self.chrome_checked])
        if results is None:
            self.page.add_script_tag(content=AXE_JS)
            results = self.page.evaluate(_RUN_AXE, [WCAG_21_AA, CHROME, self.chrome_checked])
        if results.get("chrome"):
            self.chrome_checked = True
        return [
            f"axe [{v['impact']}] {v['id']}: {[n['target'] for n in v['nodes']][:5]}"
            for v in results["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]

    def open(self, url: str, label: str | None = None) -> bool:
        """Go to `url` and check it; False when it is a download or did not load a page."""
        if not url.startswith("http"):
            url = self.base + url
        started = time.monotonic()
        try:
            try:
                response = self.page.goto(url, wait_until="load")
            except PlaywrightError as error:
                if "ERR_ABORTED" not in str(error):
                    raise
                # A navigation the previous page's script started (a poll's end) got in the way.
                response = self.page.goto(url, wait_until="load")
        except PlaywrightError as error:
            if "Download is starting" not in str(error):
                self.problems.append(f"[{self.who}/{self.language}] {url}: {error}")
                return False
            status = self.page.request.get(url).status
            if status >= 400:
                self.problems.append(f"[{self.who}/{self.language}] download {url}: {status}")
            return False
        self._timed("load", started)
        self.visited.append(url)
        if response is not None and response.status >= 400 and response.status != 404:
            via = f" (a link on {self.came_from})" if self.came_from else ""
            self.problems.append(f"[{self.who}/{self.language}] {url}: {response.status}{via}")
        self.check(label or urlsplit(url).path)
        return True

    def links(self) -> list[str]:
        hrefs: list[str] = self.page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.href.split('#')[0])"
        )
        return hrefs

    def crawl(
        self, start: Iterable[str], *, within: Callable[[str], bool], limit: int = 120
    ) -> None:
        """Breadth first from `start`, one page of each kind, at most `limit` pages. A page
        that answers an error names the page whose link led there."""
        queue = [(u if u.startswith("http") else self.base + u, "") for u in start]
        while queue and len(self._seen) < limit:
            url, came_from = queue.pop(0)
            kind = pattern_of(url)
            if kind in self._seen or not url.startswith(self.base):
                continue
            if not within(urlsplit(url).path + "?" + urlsplit(url).query):
                continue
            self._seen.add(kind)
            self.came_from = came_from
            if self.open(url):
                here = self.page.url
                queue += [
                    (link, here) for link in self.links() if pattern_of(link) not in self._seen
                ]
            self.came_from = ""

    def report(self) -> list[str]:
        return list(dict.fromkeys(self.problems))
