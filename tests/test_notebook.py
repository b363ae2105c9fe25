"""The example notebook runs top to bottom in a real Jupyter kernel (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


def test_notebook_executes():
    """Every cell runs; the fan-out, logs, metrics, bill and timeline produce their outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": "/tmp"}}).execute()
    text = "\n".join(
        str(out.get("text", ""))
        + str(out.get("data", {}).get("text/plain", ""))
        + str(out.get("data", {}).get("text/html", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "count 40 errors 6 cold starts" in text
    assert "is unlucky" in text
    assert "invocations 40.0 errors 6.0" in text
    assert "total $" in text
    assert "<table>" in text
    assert "timeline rows:" in text


def test_timeline_plot(invoker):
    """plot_timeline draws one row per environment."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from pylambda import Function

    fn = Function("plotted", lambda e, c: e)
    invoker.map(fn, [1, 2, 3, 4], concurrency=2, progress=False)
    ax = invoker.history.plot_timeline()
    assert len(ax.get_yticks()) == len({r.environment_id for r in invoker.history})
    assert len(ax.patches) == 4
