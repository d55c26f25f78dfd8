"""Fault tests: their helper modules (train_child, fault_injection, tiny_recipe) are imported by
name, here and in the fork server that starts the training processes."""
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
