"""HtmlCompressor: a fetched page reduced to its main text as markdown, behind one marker line."""

from __future__ import annotations

import pytest

from extproc.compressors.content_types import detect
from extproc.compressors.html import AVAILABLE, HtmlCompressor

from . import block, load


@pytest.fixture
def html() -> HtmlCompressor:
    return HtmlCompressor()


class TestHtmlCompressor:
    def test_trafilatura_loads(self):
        """trafilatura is a required dependency: the compressor is on wherever trimwire installs."""
        assert AVAILABLE

    def test_marker_quotes_the_title_as_written(self, html):
        """A title's entities and spacing reach the marker as the page writes them, never unescaped."""
        title = "Q&amp;A: &lt;select&gt; &#8212; Widgets&nbsp;Guide"
        paragraphs = "".join(f"<p>Paragraph {i} explains one part of the select widget in detail.</p>" for i in range(60))
        out = html.compress(f"<html><head><title> {title} </title></head><body><article>{paragraphs}</article></body></html>")
        assert out.startswith(f'[trimwire: HTML page "{title}" (')

    def test_marker_names_the_page(self, html):
        """The first line says which page this was, how big (up to </html>), and what was removed."""
        text = load("docs_page.html")
        out = html.compress(text)
        assert out.split("\n")[0] == (
            f'[trimwire: HTML page "Retries and timeouts &#8212; httpkit 2.4.1 documentation" ({len(text.rstrip())} chars) '
            "reduced to its main text as markdown; markup, scripts, styles and navigation omitted]")

    def test_main_content_survives(self, html):
        """Headings, prose, code, table cells, the warning and changelog facts are all kept."""
        out = html.compress(load("docs_page.html"))
        for fact in ("# Retries and timeouts", "## Retrying failed requests",
                     "`Timeout(connect=5.0, read=30.0)`",
                     "client = httpkit.Client(timeout=httpkit.Timeout(connect=2.0, read=60.0))",
                     "client = Client(retries=Retry(total=5, status_forcelist={503}))",
                     "| pool | 10.0 | PoolTimeout |", "a retried POST may create the resource twice",
                     "`{429, 502, 503, 504}`", "(issue #1213)", "`httpkit.RetryError`"):
            assert fact in out

    def test_identifiers_are_not_escaped(self, html):
        """Prose identifiers read as on the page (max_connections, __init__), not markdown-escaped."""
        paragraphs = "".join(f"<p>Step {i}: set max_connections or call __init__ with *args; see C:\\cfg\\pool_{i}.</p>"
                             for i in range(40))
        text = f"<html><head><title>Pool</title></head><body><nav>Home</nav><article>{paragraphs}</article></body></html>"
        out = html.compress(text)
        assert "Step 7: set max_connections or call __init__ with *args; see C:\\cfg\\pool_7." in out
        assert "\\_" not in out and "\\*" not in out

    def test_boilerplate_goes(self, html):
        """Scripts, styles, navigation, the search box and the footer are gone."""
        text = load("docs_page.html")
        out = html.compress(text)
        for noise in ("gtag(", ".highlight", "<div", "Quick search", "Created using", "accesskey", "Streaming"):
            assert noise not in out
        assert len(out) < 0.25 * len(text)

    def test_table_page(self, html):
        """A page that is one big table keeps every row, the failing one included."""
        rows = "".join(f"<tr><td>job-{i}</td><td>{'failed' if i == 7 else 'ok'}</td></tr>" for i in range(120))
        text = f"<html><head><title>Jobs</title><script>var x = 1;</script></head><body><table>{rows}</table></body></html>"
        out = html.compress(text)
        assert out.startswith('[trimwire: HTML page "Jobs" (')
        assert "| job-7 | failed |" in out and "| job-119 | ok |" in out and "var x" not in out

    def test_visible_text_when_no_main_content(self, html, monkeypatch):
        """When main-content extraction finds nothing, the page's visible text is used and the marker says so."""
        monkeypatch.setattr("extproc.compressors.html._main_text", lambda text: None)
        out = html.compress(load("docs_page.html"))
        assert "reduced to its visible text;" in out.split("\n")[0]
        assert "PoolTimeout" in out and "gtag(" not in out

    def test_app_shell_keeps_its_notice(self, html):
        """An app shell whose only text is a noscript notice is reduced to that notice, marker first."""
        state = "window.__STATE__ = {" + ",".join(f'"k{i}": {i}' for i in range(400)) + "};"
        text = (f"<!doctype html><html><head><title>Console</title><script>{state}</script></head><body>"
                "<noscript>You need to enable JavaScript to run this app.</noscript><div id=\"root\"></div></body></html>")
        out = html.compress(text)
        assert out.split("\n")[1:] == ["You need to enable JavaScript to run this app.", ""]

    def test_text_around_the_page_is_kept(self, html):
        """curl's meter before the page and the shell's footer after </html> stay byte for byte."""
        preamble = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                    "100 10524  100 10524    0     0  81209      0 --:--:-- --:--:-- --:--:-- 81581\n")
        page = load("docs_page.html").rstrip("\n")
        epilogue = "///PROCESS-DONE:0:PROCESS-DONE///\n(Current directory: /srv/app)\nbash-$"
        out = html.compress(preamble + page + epilogue)
        assert out.startswith(preamble + f'[trimwire: HTML page "Retries and timeouts &#8212; httpkit 2.4.1 documentation" '
                              f"({len(page)} chars) reduced to its main text as markdown;")
        assert out.endswith("(issue #1213).\n" + epilogue)

    def test_short_pages_are_left_alone(self, html):
        """HTML under the size threshold is not touched."""
        text = "<html><body><p>Moved to <a href='/v2'>/v2</a></p></body></html>"
        assert html.compress(text) is None
        assert not html.applies(block(text))

    def test_routed_only_html(self, html):
        """The router sends a docs page here, not a diff or a log."""
        assert detect(load("docs_page.html")) == "html" and html.applies(block(load("docs_page.html")))
        assert detect(load("git_diff.txt")) != "html" and detect(load("pytest_verbose.txt")) != "html"

    def test_deterministic(self, html):
        """The same page gives the same bytes every time."""
        text = load("docs_page.html")
        assert html.compress(text) == HtmlCompressor().compress(text)
