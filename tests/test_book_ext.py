"""The book's local Sphinx extensions (book/_ext): offline MathJax, page hygiene, notebook downloads."""

import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))

import notebook_downloads  # noqa: E402
import offline_mathjax  # noqa: E402
import page_hygiene  # noqa: E402


def test_repeated_inline_scripts_are_dropped_but_distinct_ones_kept():
    page = "<script>const A = 1</script>\n<script src='x.js'></script>\n<script>const A = 1</script>\n<script>B()</script>\n"
    assert page_hygiene.dedupe_inline_scripts(page) == "<script>const A = 1</script>\n<script src='x.js'></script>\n<script>B()</script>\n"


def test_bibliography_entries_become_list_items_of_their_list():
    """docutils' ``role="list"`` bibliography held ``doc-biblioentry`` children (deprecated role):
    axe-core's aria-required-children, impact critical, on every page with references."""
    page = ('<div role="list" class="citation-list">\n'
            '<div class="citation" id="id17" role="doc-biblioentry">\n'
            '<span class="backrefs">(<a role="doc-backlink" href="#id1">1</a>)</span>\n</div>\n'
            '<div class="citation" id="id18" role="doc-biblioentry">\n</div>\n</div>\n'
            '<p role="doc-biblioentry">not a citation</p>\n')
    fixed = page_hygiene.citation_entries_as_list_items(page)
    assert fixed.count('role="listitem"') == 2 and '<div class="citation" id="id18" role="listitem">' in fixed
    assert 'role="doc-backlink"' in fixed and '<p role="doc-biblioentry">' in fixed, "only citation entries change"


def test_every_mathjax_file_the_book_serves_is_installed():
    src = offline_mathjax.mathjax_source()
    for rel in offline_mathjax.NEEDED:
        assert (src / rel).exists(), f"MathJax's {rel} is missing from {src}"


REPO = Path(__file__).resolve().parents[1]


def test_hosted_launch_services_wait_for_a_repository_url():
    launch = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
              "jupyterhub_url": "https://hub.example.edu", "colab_url": "", "thebe": True}
    held, disabled = notebook_downloads.launch_options_without_repository({"repository_url": "", "launch_buttons": launch})
    assert sorted(disabled) == ["binderhub_url", "jupyterhub_url", "thebe"]
    assert held == {"notebook_interface": "jupyterlab", "binderhub_url": "", "jupyterhub_url": "",
                    "colab_url": "", "thebe": False}
    assert launch["binderhub_url"] == "https://mybinder.org", "the configuration itself must not be modified"
    kept, disabled = notebook_downloads.launch_options_without_repository(
        {"repository_url": "https://github.com/org/course", "launch_buttons": launch})
    assert kept == launch and disabled == []


class _Config(dict):
    """Sphinx's config answers both ``config[key]`` and ``config.key``."""

    __getattr__ = dict.__getitem__


def _launch_buttons_for(config_yml: dict, tmp_path: Path, page: str = "book/optimizers_dilemma") -> list:
    """Run sphinx-book-theme's launch-button code on one page, configured as Jupyter Book does."""
    from jupyter_book.config import yaml_to_sphinx
    from sphinx_book_theme.header_buttons import update_context_with_repository_info
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    recursive, overrides, _ = yaml_to_sphinx(config_yml)
    sphinx_config = _Config(recursive, **overrides)
    sphinx_config["html_context"] = dict(sphinx_config.get("html_context") or {})
    app = SimpleNamespace(config=sphinx_config, builder=None, outdir=str(tmp_path / "html"))
    notebook_downloads._hold_launch_buttons(app, sphinx_config)
    update_context_with_repository_info(app)
    executed = tmp_path / "jupyter_execute" / f"{page}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    executed.write_text("{}")
    app.env = SimpleNamespace(doc2path=lambda name: str(REPO / f"{name}.md"),
                              metadata={page: {"kernelspec": {"name": "python3"}}})
    context = dict(sphinx_config["html_context"], pagename=page, sourcename=f"{page}.md",
                   page_source_suffix=".md", header_buttons=[])
    add_launch_buttons(app, page, "page.html", context, None)
    return [button for group in context["header_buttons"] for button in group["buttons"]]


def test_book_config_has_no_launch_button_while_the_repository_url_is_empty(tmp_path):
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == ""
    assert _launch_buttons_for(config, tmp_path) == []


def test_setting_the_repository_url_is_the_one_change_that_adds_a_binder_button(tmp_path):
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/example-org/lr-course"
    buttons = _launch_buttons_for(config, tmp_path)
    urls = [button["url"] for button in buttons if button.get("type") == "link"]
    assert urls == ["https://mybinder.org/v2/gh/example-org/lr-course/main?urlpath=lab/tree/book/optimizers_dilemma.md"], (
        f"launch links with a repository URL: {urls}"
    )
