"""Rendering of the firmware templates (``firmware_templates/``): the one environment and its C literal helpers are
:mod:`edgeq._templates`, shared with the compiler; this module keeps the names the targets code imports."""

from __future__ import annotations

from edgeq._templates import c_char_literal, c_float, c_string_literal, environment, render, templates_dir

__all__ = ["c_char_literal", "c_float", "c_string_literal", "environment", "render", "templates_dir"]
