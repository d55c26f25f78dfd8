"""ReaLAccuracy equals timm's RealLabelsImagenet on the same scores and file names (top-1 and
top-5, empty label sets left out), reading the sets from gt_label or from real.json."""
import json
import math
import os
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator

from rsb_mm.evaluation import ReaLAccuracy, real_accuracy, real_topk_correct
from rsb_mm.utils import free_port

N, C = 60, 20


def _name(number):
    return f'ILSVRC2012_val_{number:08d}.JPEG'


def _problem(seed=0):
    """Random ReaL sets (0-3 classes, some empty) and scores that put a true class somewhere
    in the top 8 for most images, so top-1 and top-5 land strictly between 0 and 100."""
    rng = np.random.default_rng(seed)
    real = [sorted(rng.choice(C, size=int(rng.integers(0, 4)), replace=False).tolist())
            for _ in range(N)]
    scores = torch.from_numpy(rng.normal(size=(N, C))).float()
    for i, labels in enumerate(real):
        if labels and i % 4:
            scores[i, labels[0]] += float(rng.uniform(0.5, 3.0))
    return real, scores


def _timm_accuracy(names, real_json, scores, batch=7):
    from timm.data.real_labels import RealLabelsImagenet
    timm_real = RealLabelsImagenet(names, real_json=real_json, topk=(1, 5))
    for start in range(0, len(names), batch):
        timm_real.add_result(scores[start:start + batch])
    return timm_real.get_accuracy()


def _evaluate(metric, samples, batch=7):
    evaluator = Evaluator(metric)
    for start in range(0, len(samples), batch):
        evaluator.process(samples[start:start + batch])
    return evaluator.evaluate(len(samples))


def test_gt_label_sets_equal_timm(tmp_path):
    real, scores = _problem()
    real_json = str(tmp_path / 'real.json')
    with open(real_json, 'w') as f:
        json.dump(real, f)
    assert sum(not r for r in real) > 5 and sum(len(r) > 1 for r in real) > 5
    # Loader order differs from file order, as with class folders.
    order = np.random.default_rng(1).permutation(N)
    names = [_name(i + 1) for i in order]
    expected = _timm_accuracy(names, real_json, scores[order])
    samples = [dict(pred_score=scores[i], gt_label=torch.tensor(real[i], dtype=torch.long))
               for i in order]
    got = _evaluate(ReaLAccuracy(topk=(1, 5)), samples)
    assert got == {'accuracy/top1': expected[1], 'accuracy/top5': expected[5]}
    assert 0 < got['accuracy/top1'] < got['accuracy/top5'] < 100


def test_real_json_by_img_path_equals_timm(tmp_path):
    real, scores = _problem(seed=3)
    real_json = str(tmp_path / 'real.json')
    with open(real_json, 'w') as f:
        json.dump(real, f)
    order = np.random.default_rng(2).permutation(N)
    names = [_name(i + 1) for i in order]
    expected = _timm_accuracy(names, real_json, scores[order], batch=5)
    # gt_label holds the ordinary single val label here: it must be ignored.
    samples = [dict(pred_score=scores[i], gt_label=torch.tensor([0]),
                    img_path=osp.join('data/imagenet/val/n01440764', _name(i + 1)))
               for i in order]
    metric = ReaLAccuracy(real_json=real_json, prefix='real/accuracy')
    got = _evaluate(metric, samples, batch=5)
    assert got == {'real/accuracy/top1': expected[1], 'real/accuracy/top5': expected[5]}


def test_empty_sets_are_left_out():
    # Image 1: no ReaL label. Image 2: top-1 is 1, in {1}. Image 3: top-1 is 0, in {2, 0};
    # image 4: top-1 is 3, top-2 is 2 (in {2}).
    scores = torch.tensor([[5., 0., 0., 0.], [0., 5., 0., 0.], [5., 0., 1., 0.],
                           [0., 0., 2., 3.]])
    real = [[], [1], [2, 0], [2]]
    samples = [dict(pred_score=s, gt_label=torch.tensor(r, dtype=torch.long))
               for s, r in zip(scores, real)]
    got = _evaluate(ReaLAccuracy(topk=(1, 2)), samples)
    # Counting the empty image as wrong would give 50 / 75.
    assert got == pytest.approx({'accuracy/top1': 200 / 3, 'accuracy/top2': 100.0})
    assert real_topk_correct([3, 2, 0], [2], (1, 2, 3)) == (False, True, True)
    assert real_topk_correct([3, 2], [], (1, 2)) is None


def test_all_empty_is_nan_like_timm():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        timm_value = float(np.mean([])) * 100
    got = real_accuracy([None, None], (1, 5))
    assert math.isnan(timm_value) and all(math.isnan(v) for v in got.values())


def test_next_to_accuracy_in_one_evaluator(tmp_path):
    real, scores = _problem(seed=5)
    real_json = str(tmp_path / 'real.json')
    with open(real_json, 'w') as f:
        json.dump(real, f)
    val_labels = scores.argmax(1).tolist()  # val top-1 is then 100
    samples = [dict(pred_score=scores[i], gt_label=torch.tensor([val_labels[i]]),
                    img_path=_name(i + 1)) for i in range(N)]
    from mmpretrain.registry import METRICS
    metrics = [METRICS.build(dict(type='Accuracy', topk=(1, 5))),
               METRICS.build(dict(type='ReaLAccuracy', real_json=real_json,
                                  prefix='real/accuracy'))]
    got = _evaluate(metrics, samples)
    expected = _timm_accuracy([_name(i + 1) for i in range(N)], real_json, scores)
    assert got == {'accuracy/top1': 100.0, 'accuracy/top5': 100.0,
                   'real/accuracy/top1': expected[1], 'real/accuracy/top5': expected[5]}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r'topk must be positive integers, got \(1, 0\)'):
        ReaLAccuracy(topk=(1, 0))
    with pytest.raises(FileNotFoundError, match='missing_real.json'):
        ReaLAccuracy(real_json=str(tmp_path / 'missing_real.json'))
    metric = ReaLAccuracy(topk=(1, 5))
    with pytest.raises(ValueError, match='must not exceed the number of classes'):
        metric.process(None, [dict(pred_score=torch.zeros(3), gt_label=torch.tensor([0]))])
    with pytest.raises(ValueError, match='needs pred_score'):
        metric.process(None, [dict(pred_label=torch.tensor([0]), gt_label=torch.tensor([0]))])



def _dist_worker(rank, world, port, out_dir, real, scores):
    """One rank: DefaultSampler's strided share of the padded index list, then evaluate."""
    torch.set_num_threads(1)
    os.chdir(out_dir)  # MMEngine's CPU collection writes a .dist_test folder into the cwd
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    try:
        n = len(real)
        padded = list(range(n)) + list(range(-n % world))  # DefaultSampler(round_up=True)
        metric = ReaLAccuracy(topk=(1, 5))
        mine = padded[rank::world]
        for start in range(0, len(mine), 3):
            metric.process(None, [dict(pred_score=scores[i],
                                       gt_label=torch.tensor(real[i], dtype=torch.long))
                                  for i in mine[start:start + 3]])
        got = metric.evaluate(n)
        if rank == 0:
            with open(osp.join(out_dir, 'got.json'), 'w') as f:
                json.dump(got, f)
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_timm(tmp_path):
    # MMEngine's collect_results drops None entries when interleaving the ranks' results, so
    # a metric storing None for empty label sets would count padded duplicates instead.
    real, scores = _problem(seed=7)
    n = 41  # odd: the sampler pads one sample
    real, scores = real[:n], scores[:n]
    # The padded duplicate (image 1) has a label set while several others have none: with
    # the empty ones dropped, the duplicate would be counted.
    real[0] = [int(scores[0].argmax())]
    assert sum(not r for r in real) >= 3
    real_json = str(tmp_path / 'real.json')
    with open(real_json, 'w') as f:
        json.dump(real, f)
    expected = _timm_accuracy([_name(i + 1) for i in range(n)], real_json, scores)
    start_method = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'
    mp.start_processes(_dist_worker, args=(2, free_port(), str(tmp_path), real, scores),
                       nprocs=2, join=True, start_method=start_method)
    with open(tmp_path / 'got.json') as f:
        got = json.load(f)
    assert got == {'accuracy/top1': expected[1], 'accuracy/top5': expected[5]}
