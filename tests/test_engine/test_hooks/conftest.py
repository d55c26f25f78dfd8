"""The hook tests train the toy set-up of tests/test_engine/test_runners/toy_training.py."""
import os.path as osp
import sys

_RUNNERS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_runners')
if _RUNNERS not in sys.path:
    sys.path.insert(0, _RUNNERS)
