"""Read what MMEngine writes into a work dir: the scalar records of every run in it.

Layout (MMEngine 0.10.x): each ``Runner`` gets a log dir ``<work_dir>/<YYYYMMDD_HHMMSS>/`` (its
timestamp) holding the text log ``<timestamp>.log``; with ``LocalVisBackend`` (rsb_mm's
``default_runtime.py`` has it) also ``vis_data/scalars.json``, one JSON object per line:

* a training record per logged iteration: ``lr``, ``base_lr``, ``loss`` (and its parts),
  ``time``, ``data_time``, ``epoch``, ``iter``, ``step`` (= ``iter``);
* a validation record per evaluation: the metrics (``accuracy/top1``, and with rsb_mm's
  multi-set loops ``real/accuracy/top1``, ``v2/accuracy/top1``, ...), ``time``, ``data_time``,
  ``step`` (the epoch for epoch-based training, else the iteration);

and a test run (``tools/test.py``) dumps its metrics as one JSON object in
``<timestamp>/<timestamp>.json``. A resumed training run is a new timestamp dir in the same work
dir, so the records of a work dir are those of its runs in timestamp order.

When ``LocalVisBackend`` was off, :func:`read_records` falls back to the text log, whose
``Epoch(train)`` / ``Iter(train)`` and final ``Epoch(val)`` / ``Iter(val)`` lines carry the same
keys, rounded to the 4 decimals the logger prints.
"""
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

__all__ = [
    'NON_METRIC_KEYS', 'find_run_dirs', 'read_records', 'parse_text_log', 'split_records',
    'read_test_metrics', 'read_seed'
]

#: Keys of a validation record that are not metrics.
NON_METRIC_KEYS = frozenset({'time', 'data_time', 'step', 'epoch', 'iter', 'eta'})

_RUN_DIR = re.compile(r'^\d{8}_\d{6}$')
# "Epoch(train)  [1][ 2/10]  key: value  key: value ..."; "Iter(val) [20/20]  ..."
_LOG_LINE = re.compile(
    r' - mmengine - INFO - (Epoch|Iter)\((train|val)\)\s*'
    r'(?:\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]\s+(.*)$')
_KEY_VALUE = re.compile(r'([\w./-]+): ([-+0-9.eE]+|nan|inf)(?=\s|$)')
_SEED = re.compile(r'^\s+seed: (\d+)\s*$')


def find_run_dirs(work_dir: str) -> List[str]:
    """The timestamp dirs (one per run) of an MMEngine work dir, oldest first.

    Args:
        work_dir (str): A work dir, or one run's timestamp dir itself.

    Returns:
        list[str]: The ``<work_dir>/<YYYYMMDD_HHMMSS>`` dirs, sorted by name (= by time).

    Raises:
        FileNotFoundError: If ``work_dir`` does not exist or holds no run.
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir not found: {work_dir}')
    if _RUN_DIR.match(osp.basename(osp.normpath(work_dir))):
        return [work_dir]
    runs = sorted(d for d in os.listdir(work_dir)
                  if _RUN_DIR.match(d) and osp.isdir(osp.join(work_dir, d)))
    if not runs:
        raise FileNotFoundError(f'no MMEngine run (a <YYYYMMDD_HHMMSS> log dir) in {work_dir}')
    return [osp.join(work_dir, d) for d in runs]


def _read_json_lines(path: str) -> List[dict]:
    records = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {number}: not a JSON record ({err})') from err
    return records


def parse_text_log(path: str) -> List[dict]:
    """The training and validation records of an MMEngine text log.

    Training lines give a record with their logged keys plus ``iter`` / ``step`` (for
    epoch-based runs, the global iteration ``(epoch - 1) * iters_per_epoch + i``) and
    ``epoch``; a validation line carrying metrics (the epoch's summary, not the progress lines)
    gives a record with ``step`` = its epoch (epoch-based) or iteration.

    Args:
        path (str): The ``<timestamp>.log`` file.

    Returns:
        list[dict]: Records as in ``scalars.json`` (values rounded as the log prints them).
    """
    records = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            match = _LOG_LINE.search(line.rstrip('\n'))
            if match is None:
                continue
            kind, mode, epoch, i, total, rest = match.groups()
            values = {k: float(v) for k, v in _KEY_VALUE.findall(rest)}
            if mode == 'train':
                if kind == 'Epoch':
                    step = (int(epoch) - 1) * int(total) + int(i)
                    values.update(epoch=int(epoch), iter=step, step=step)
                else:
                    values.update(iter=int(i), step=int(i))
                records.append(values)
            elif set(values) - NON_METRIC_KEYS:
                values['step'] = int(epoch) if kind == 'Epoch' else int(i)
                records.append(values)
    return records


def read_records(work_dir: str) -> List[dict]:
    """All scalar records of a work dir's runs, oldest run first.

    Each run contributes its ``vis_data/scalars.json`` or, when the run has none
    (``LocalVisBackend`` off), the records of its text log.

    Args:
        work_dir (str): A work dir, or one run's timestamp dir.

    Returns:
        list[dict]: The records, in the order they were written.

    Raises:
        FileNotFoundError: If no run of the work dir has a scalars file or a text log.
        ValueError: If a scalars file has a line that is not JSON.
    """
    records, found = [], False
    for run_dir in find_run_dirs(work_dir):
        scalars = osp.join(run_dir, 'vis_data', 'scalars.json')
        text_log = osp.join(run_dir, f'{osp.basename(osp.normpath(run_dir))}.log')
        if osp.isfile(scalars):
            records += _read_json_lines(scalars)
            found = True
        elif osp.isfile(text_log):
            records += parse_text_log(text_log)
            found = True
    if not found:
        raise FileNotFoundError(f'no vis_data/scalars.json nor <timestamp>.log in the runs of '
                                f'{work_dir}')
    return records


def split_records(records: Sequence[dict],
                  metric_key: Optional[str] = None) -> Dict[str, List[dict]]:
    """Split records into training and validation ones.

    A training record has an ``lr`` or ``iter`` key (MMEngine's ``LogProcessor`` logs both in
    training, neither after an evaluation, whose record may still hold a ``val_loss``). A
    validation record has neither and at least one key outside :data:`NON_METRIC_KEYS` (or,
    if given, ``metric_key``). Records that are neither (an evaluation that logged no metric)
    are left out.

    Args:
        records (Sequence[dict]): Records from :func:`read_records`.
        metric_key (str, optional): A key every validation record must have. Defaults to
            None.

    Returns:
        dict[str, list[dict]]: ``{'train': [...], 'val': [...]}``, each in file order.
    """
    train, val = [], []
    for record in records:
        if 'lr' in record or 'iter' in record:
            train.append(record)
        elif (metric_key in record if metric_key is not None else
              bool(set(record) - NON_METRIC_KEYS)):
            val.append(record)
    return {'train': train, 'val': val}


def read_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest test run (``tools/test.py``) saved in a work dir.

    Args:
        work_dir (str): The work dir given to ``tools/test.py --work-dir``.

    Returns:
        dict[str, float]: The metrics of ``<timestamp>/<timestamp>.json``.

    Raises:
        FileNotFoundError: If no run of the work dir has that file.
    """
    for run_dir in reversed(find_run_dirs(work_dir)):
        path = osp.join(run_dir, f'{osp.basename(osp.normpath(run_dir))}.json')
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                return json.load(f)
    raise FileNotFoundError(f'no test run (<timestamp>/<timestamp>.json) in {work_dir}')


def read_seed(work_dir: str) -> Optional[int]:
    """The random seed a work dir's first run used, from its text log.

    MMEngine logs the seed in the "Runtime environment" block (also the one it drew itself
    when the config's ``randomness.seed`` is None).

    Args:
        work_dir (str): A work dir, or one run's timestamp dir.

    Returns:
        int | None: The seed, or None if no log states it.
    """
    for run_dir in find_run_dirs(work_dir):
        text_log = osp.join(run_dir, f'{osp.basename(osp.normpath(run_dir))}.log')
        if not osp.isfile(text_log):
            continue
        with open(text_log, encoding='utf-8', errors='replace') as f:
            for line in f:
                match = _SEED.match(line)
                if match:
                    return int(match.group(1))
    return None
