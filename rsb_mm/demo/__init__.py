"""The embedded demo: the whole rsb_mm path on tiny learnable data (``tools/demo.py``)."""
from .data import DemoData, DemoDataSize, write_demo_data
from .pipeline import FULL, QUICK, DemoSize, DemoSummary, format_summary, run_demo

__all__ = [
    'DemoData', 'DemoDataSize', 'write_demo_data', 'FULL', 'QUICK', 'DemoSize', 'DemoSummary',
    'format_summary', 'run_demo'
]
