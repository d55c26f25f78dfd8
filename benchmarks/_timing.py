"""Clocks, turn-taking and tables shared by the training-iteration benchmarks.

``bench_train_iter.py`` and ``bench_detection_iter.py`` time variants that take turns
iteration by iteration and print the same two tables (per-iteration times with ratios to a
reference, and per-phase medians); this module holds that common part.
"""
import random
import statistics
import time
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

Times = Tuple[float, float]  # (wall ms, this process's CPU ms)


def clock(device: str = 'cpu') -> Times:
    """(wall, this process's CPU) time in ms, after the device's queued work is done. CPU
    time is what a job loses least of when other jobs share the cores (with one thread;
    several threads spin while waiting)."""
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() * 1e3, time.process_time() * 1e3


def elapsed(start: Times, end: Times) -> Times:
    return end[0] - start[0], end[1] - start[1]


def rounds(variants: Sequence, count: int) -> Iterator[tuple]:
    """Yield ``(i, variant)`` for ``count`` rounds, each variant once per round, the order
    rotating by one every round, so that load from other jobs hits the variants alike."""
    variants = list(variants)
    for i in range(count):
        shift = i % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            yield i, variant


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown CPU'


def iteration_stats(times: Iterable[Times]) -> Dict[str, float]:
    """Median, mean, min and max of the wall times and the median CPU time."""
    times = list(times)
    wall = [w for w, _ in times]
    return dict(median=statistics.median(wall), mean=statistics.mean(wall), min=min(wall),
                max=max(wall), cpu=statistics.median(c for _, c in times))


def print_iteration_table(names: List[str], times: Dict[str, List[Times]], reference: str,
                          batch_size: Optional[int] = None) -> None:
    """One row per variant: wall ms (median, mean, min-max), img/s at the median (with
    ``batch_size``), CPU ms, and the ratios to ``reference`` of the median, min and CPU."""
    ref = iteration_stats(times[reference])
    images = ' img/s |' if batch_size else ''
    print(f'| variant | median ms | mean ms | min-max ms |{images} CPU ms | ratio median | '
          'ratio min | ratio CPU |')
    print('|---|---:|---:|---:|' + ('---:|' if batch_size else '') + '---:|---:|---:|---:|')
    for name in names:
        st = iteration_stats(times[name])
        rate = f' {batch_size / st["median"] * 1e3:.2f} |' if batch_size else ''
        print(f"| {name} | {st['median']:.0f} | {st['mean']:.0f} | "
              f"{st['min']:.0f}-{st['max']:.0f} |{rate} {st['cpu']:.0f} | "
              f"{st['median'] / ref['median']:.3f} | {st['min'] / ref['min']:.3f} | "
              f"{st['cpu'] / ref['cpu']:.3f} |")


def median_phases(samples: Dict[str, Dict[str, List[Times]]],
                  phases: Sequence[str]) -> Dict[str, Dict[str, Times]]:
    """Median (wall ms, CPU ms) per phase, per variant, from every iteration's samples."""
    return {
        name: {p: (statistics.median(w for w, _ in s[p]), statistics.median(c for _, c in s[p]))
               for p in phases}
        for name, s in samples.items()
    }


def print_phase_table(phases: Dict[str, Dict[str, Times]], names: List[str],
                      phase_names: Sequence[str], total: bool = False) -> None:
    """Rows of phases, one ``wall / CPU`` column per variant; ``total`` adds a sum row."""
    print('| phase | ' + ' | '.join(names) + ' |')
    print('|---|' + '---:|' * len(names))
    for phase in list(phase_names) + (['sum'] if total else []):
        cells = []
        for n in names:
            wall, cpu = ((sum(w for w, _ in phases[n].values()),
                          sum(c for _, c in phases[n].values()))
                         if phase == 'sum' else phases[n][phase])
            cells.append(f'{wall:.1f} / {cpu:.1f}')
        print(f'| {phase} | ' + ' | '.join(cells) + ' |')
