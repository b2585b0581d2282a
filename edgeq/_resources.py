"""Where edgeq's data files are: the firmware templates and kernels, in a source checkout and when installed."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The firmware templates and portable C kernels.

    Installed (wheel, sdist, ``pip install .``), they are the package ``edgeq.firmware_templates``, i.e.
    ``edgeq/firmware_templates/`` next to this file. In a source checkout (``pip install -e .`` or ``PYTHONPATH``) they
    are ``firmware_templates/`` at the top of the checkout; pyproject.toml maps that folder to the package.
    """
    installed = _PACKAGE / "firmware_templates"
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / "firmware_templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"edgeq's firmware templates are missing: neither {installed} nor {checkout} exists "
                            "(a broken install: reinstall edgeq)")
