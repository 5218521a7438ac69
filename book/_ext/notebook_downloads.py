"""Offer every notebook page as an executed ``.ipynb``, and keep launch buttons off until there is a repository.

Download
    The chapters are MyST-markdown notebooks. sphinx-book-theme only offers the
    ``.ipynb`` entry of its download menu when a launch service is configured (it
    copies the notebook while building the launch links); otherwise readers get the
    ``.md`` source only. On every page whose source is a notebook (it has a
    ``kernelspec``), this extension copies the notebook that myst-nb executed
    (``_build/jupyter_execute/<page>.ipynb``, with all outputs) to
    ``_build/html/_sources/<page>.ipynb`` and sets ``ipynb_source``, so the theme's
    download menu lists ".ipynb" next to ".md" and ".pdf". No network is involved.

Launch buttons
    ``_config.yml`` names the hosted services (Binder, ...) that launch a page once
    the course has a public repository. The theme builds their links from
    ``repository.url``; with that URL empty it would fail (or link to nothing real).
    While ``repository.url`` is empty the hosted-service URLs are therefore cleared
    before the build, so no page shows a launch button; setting ``repository.url``
    is the one-line change that switches them on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

#: launch_buttons keys whose links sphinx-book-theme builds from the repository URL
HOSTED_SERVICES = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")


def launch_options_without_repository(theme_options: dict) -> tuple[dict, list[str]]:
    """The ``launch_buttons`` theme option to use, and the services switched off.

    Parameters
    ----------
    theme_options : dict
        ``html_theme_options`` as Jupyter Book produced them from ``_config.yml``
        (``launch_buttons`` and ``repository_url`` among them).

    Returns
    -------
    launch : dict
        A copy of ``launch_buttons``: unchanged when ``repository_url`` is set,
        otherwise with every hosted-service URL (and ``thebe``, which runs on Binder)
        emptied.
    disabled : list of str
        The keys that were emptied (configured, but waiting for a repository URL).

    Examples
    --------
    >>> launch_options_without_repository({"repository_url": "", "launch_buttons": {"binderhub_url": "https://b"}})
    ({'binderhub_url': ''}, ['binderhub_url'])
    >>> launch_options_without_repository({"repository_url": "https://github.com/o/r",
    ...                                    "launch_buttons": {"binderhub_url": "https://b"}})
    ({'binderhub_url': 'https://b'}, [])
    """
    launch = dict(theme_options.get("launch_buttons") or {})
    if (theme_options.get("repository_url") or "").strip():
        return launch, []
    disabled = [key for key in (*HOSTED_SERVICES, "thebe") if launch.get(key)]
    for key in disabled:
        launch[key] = False if key == "thebe" else ""
    return launch, disabled


def _hold_launch_buttons(app, config):
    options = config.html_theme_options
    launch, disabled = launch_options_without_repository(options)
    if disabled:
        options["launch_buttons"] = launch
        LOGGER.info("launch buttons off until repository.url is set in _config.yml: %s", ", ".join(disabled))


def is_notebook_page(metadata: dict) -> bool:
    """True for a page whose source is a notebook (MyST-NB or .ipynb): it has a kernelspec."""
    return "kernelspec" in metadata


def _offer_notebook(app, pagename, templatename, context, doctree):
    if app.builder.format != "html" or doctree is None:
        return
    if not is_notebook_page(app.env.metadata.get(pagename, {})):
        return
    executed = Path(app.env.mystnb_config.output_folder) / f"{pagename}.ipynb"
    if not executed.is_file():
        LOGGER.warning(
            "%s: no executed notebook at %s to offer for download; the page is a notebook (it has a "
            "kernelspec) but myst-nb wrote nothing: rebuild with `make book` (or delete _build and rebuild)",
            pagename, executed, location=pagename,
        )
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    cached = _outputs_from_cache(executed, app.env.mystnb_config.execution_cache_path)
    if cached is not None:
        target.write_text(cached, encoding="utf-8")
    else:
        shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _outputs_from_cache(executed: Path, cache_path: str | None) -> str | None:
    """The notebook ``executed`` with the outputs of its execution-cache record, if it was written without them.

    When myst-nb takes a page's outputs from its execution cache (``execute_notebooks: cache``, a
    page whose code did not change), myst-nb 1.4 renders the cached outputs but writes the
    *input* notebook to ``jupyter_execute/``: no outputs, no execution counts. The download
    would then be an unexecuted notebook. This merges the cache's record into it, as myst-nb
    did for the page. Returns None when the notebook has outputs already or the cache has no
    record of it (then the file is offered as it is).
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code or any(cell.get("outputs") or cell.get("execution_count") for cell in code):
        return None
    if not cache_path or not Path(cache_path).is_dir():
        return None
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(nb)
    except KeyError:
        return None
    return nbformat.writes(merged)


def setup(app):
    app.connect("config-inited", _hold_launch_buttons)
    # before sphinx-book-theme builds its header buttons (priority 501), which read ipynb_source
    app.connect("html-page-context", _offer_notebook, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
