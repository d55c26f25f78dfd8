"""Compiled helpers, built by setup.py when the package is installed; each checks itself
against its reference on first use and falls back to it when missing or different."""
from . import pil_resample

__all__ = ['pil_resample']
