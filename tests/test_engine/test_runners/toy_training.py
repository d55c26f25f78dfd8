"""A tiny MMEngine training set-up for the loop and hook tests: it draws from every global random
generator (Python and numpy in the data set, torch in the model) and has BatchNorm buffers, so
that resuming it exactly needs what the RSB recipe needs. Each runner takes a second on a CPU."""
import random
import uuid

import numpy as np
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    """``length`` samples; each draws noise from ``random`` and ``np.random``; counts loads.

    Args:
        length (int): Number of samples.
        nan_at (int, optional): Index whose input is NaN (a sample that makes the loss NaN).
    """

    def __init__(self, length=6, nan_at=None):
        self.length = length
        self.nan_at = nan_at
        self.loaded = []
        self.metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        self.loaded.append(idx)
        g = torch.Generator().manual_seed(idx)
        x = torch.randn(3, 8, 8, generator=g) + random.random() + float(np.random.rand())
        if idx == self.nan_at:
            x = torch.full_like(x, float('nan'))
        return dict(inputs=x, label=idx % 2, index=idx)


class ToyModel(BaseModel):
    """Conv + BatchNorm + linear, with torch-drawn noise on its input during training."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, inputs, label=None, index=None, mode='tensor'):
        x = torch.stack(inputs)
        if self.training:
            x = x + 0.1 * torch.rand_like(x)
        logits = self.fc(self.bn(self.conv(x)).mean((2, 3)))
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, torch.as_tensor(label)))
        if mode == 'predict':
            return [dict(pred=int(p), gt=int(t)) for p, t in zip(logits.argmax(1), label)]
        return logits


class ToyAccuracy(BaseMetric):
    """Plain accuracy of :class:`ToyModel` predictions."""

    def process(self, data_batch, data_samples):
        self.results.extend(s['pred'] == s['gt'] for s in data_samples)

    def compute_metrics(self, results):
        return dict(accuracy=sum(results) / max(len(results), 1))


def build_runner(work_dir, max_epochs=2, dataset=None, val=True, checkpoint=None,
                 custom_hooks=(), loop='ResumableEpochBasedTrainLoop', seed=0, batch_size=2,
                 resume_from=None, lr=0.1, model=None):
    """A Runner of :class:`ToyModel` on :class:`ToyDataset` in MMPretrain's scope."""
    dataset = dataset if dataset is not None else ToyDataset()
    torch.manual_seed(0)  # the same initial weights for every runner built by a test
    loader = dict(dataset=dataset, batch_size=batch_size, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=True))
    val_kwargs = {}
    if val:
        val_kwargs = dict(
            val_dataloader=dict(dataset=ToyDataset(4), batch_size=2, num_workers=0,
                                sampler=dict(type='DefaultSampler', shuffle=False)),
            val_cfg=dict(), val_evaluator=Evaluator([ToyAccuracy()]))
    hooks = dict(logger=dict(type='LoggerHook', interval=1))
    if checkpoint is not None:
        hooks['checkpoint'] = checkpoint
    return Runner(
        model=model if model is not None else ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(type=loop, max_epochs=max_epochs) if loop else dict(
            by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9)),
        default_hooks=hooks,
        custom_hooks=list(custom_hooks),
        default_scope='mmpretrain',
        randomness=dict(seed=seed),
        load_from=resume_from,
        resume=resume_from is not None,
        experiment_name=f'toy_{uuid.uuid4().hex[:8]}',
        **val_kwargs)


def weights(runner):
    """The model's state dict, copied."""
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def same(a, b):
    """Whether two state dicts are bitwise equal."""
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
