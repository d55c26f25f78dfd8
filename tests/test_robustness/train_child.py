"""Run ``tools/train.py`` in a process forked from a server that has already imported rsb_mm.

A fresh ``python tools/train.py`` spends most of its time importing torch, MMEngine, MMPretrain
and MMDetection (20-30 s on a loaded 2-core machine); the fault tests start a dozen training
processes. They are forked instead from a ``multiprocessing`` fork server that preloaded rsb_mm
once, and each runs the real script (``runpy`` with its command line) with its own environment,
working folder and log file, as a separate OS process that can be killed for real.
"""
import multiprocessing
import multiprocessing.forkserver
import os
import os.path as osp
import runpy
import sys

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


def _run_train(argv, env, log_path):
    # The fork server imported torch with OMP_NUM_THREADS=1; keep every run on one thread so
    # that runs compare bitwise and stay off the other tests' cores.
    import torch
    torch.set_num_threads(1)
    os.environ.update(env, OMP_NUM_THREADS='1')
    os.chdir(REPO)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.argv = [osp.join(REPO, 'tools', 'train.py'), *argv]
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:  # noqa: B902  the traceback goes to the log, the status to the test
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def context():
    """The fork-server context, preloading rsb_mm and the fault-injection hook."""
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload(['rsb_mm', 'fault_injection'])
    # torch reads OMP_NUM_THREADS when the server imports it; the test process keeps its own.
    previous = os.environ.get('OMP_NUM_THREADS')
    os.environ['OMP_NUM_THREADS'] = '1'
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ['OMP_NUM_THREADS']
        else:
            os.environ['OMP_NUM_THREADS'] = previous
    return ctx


def start_train(argv, log_path, env=None):
    """Start ``tools/train.py argv`` in a forked process; returns the started Process.

    Args:
        argv (list[str]): The script's arguments.
        log_path (str): File that receives the process's stdout and stderr.
        env (dict, optional): Environment variables set in the process.
    """
    proc = context().Process(target=_run_train, args=(list(argv), dict(env or {}), log_path))
    proc.start()
    return proc
