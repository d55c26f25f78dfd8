"""What timm's BatchNorm composition costs with several processes: DDP's buffer broadcast at
every forward (``broadcast_buffers=True``) and the mean over ranks at each epoch end
(``SyncBuffersHook``, timm's ``--dist-bn reduce``).

    python3 benchmarks/bench_dist_bn.py [--world 2] [--batch 8] [--size 112] [--iters 12]

Starts ``--world`` CPU processes (gloo, one thread each) holding the A1 config's ResNet-50 in
MMEngine's DDP wrapper. Training iterations (forward, loss, backward) take turns with the
broadcast on and off (the attribute DDP reads at every forward), and the epoch-end reduction
(``mmengine.dist.all_reduce_params(model.buffers(), op='mean')``, what the hook runs) is timed
on its own. Prints rank 0's medians (wall and CPU ms) and the ratios.
"""
import argparse
import os
import os.path as osp
import statistics
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _timing import clock, cpu_model, elapsed, rounds

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _worker(rank, args, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(args.world))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=args.world)
    from mmengine.config import Config
    from mmengine.dist import all_reduce_params
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import rsb_mm  # noqa: F401  registers the recipe's modules

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rsb_a1_resnet50.py'))
    init_default_scope('mmpretrain')
    torch.manual_seed(rank)
    model = MODELS.build(cfg.model.backbone)
    ddp = MMDistributedDataParallel(model, broadcast_buffers=True, device_ids=None)
    x = torch.randn(args.batch, 3, args.size, args.size)
    buffers = sum(b.numel() for b in model.buffers())

    times = {True: [], False: []}
    for i, broadcast in rounds([True, False], args.iters + 1):
        ddp.broadcast_buffers = broadcast
        dist.barrier()
        start = clock()
        ddp(x)[-1].float().mean().backward()
        if i > 0:  # the first round warms up
            times[broadcast].append(elapsed(start, clock()))
    reduce_times = []
    for _ in range(args.iters):
        dist.barrier()
        start = clock()
        all_reduce_params(model.buffers(), op='mean')
        reduce_times.append(elapsed(start, clock()))
    if rank == 0:
        out.put(dict(times=times, reduce=reduce_times, buffers=buffers))
    dist.destroy_process_group()


def _median(samples, index):
    return statistics.median(s[index] for s in samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--world', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--iters', type=int, default=12)
    parser.add_argument('--epoch-iters', type=int, default=625,
                        help='iterations per epoch for the per-epoch share (RSB A1: 625)')
    args = parser.parse_args()

    sys.path.insert(0, REPO)
    from rsb_mm.utils import free_port
    ctx = mp.get_context('spawn')
    out = ctx.SimpleQueue()
    mp.spawn(_worker, args=(args, free_port(), out), nprocs=args.world, join=True)
    res = out.get()
    on, off, red = res['times'][True], res['times'][False], res['reduce']
    print(f'{args.world} gloo processes, 1 thread each, {cpu_model()}; ResNet-50 (A1 config) '
          f"{res['buffers']:,} buffer values; batch {args.batch} x {args.size} px; "
          f'{args.iters} iterations each, taking turns; rank 0 medians')
    print('| what | wall ms | CPU ms |')
    print('|---|---:|---:|')
    print(f'| iteration, broadcast_buffers=False (MMEngine) | {_median(off, 0):.1f} | '
          f'{_median(off, 1):.1f} |')
    print(f'| iteration, broadcast_buffers=True (timm) | {_median(on, 0):.1f} | '
          f'{_median(on, 1):.1f} |')
    print(f'| epoch-end mean over ranks (SyncBuffersHook) | {_median(red, 0):.2f} | '
          f'{_median(red, 1):.2f} |')
    extra = _median(on, 0) - _median(off, 0)
    print(f'\nbroadcast: {extra:+.1f} ms an iteration ({_median(on, 0) / _median(off, 0):.3f}x '
          f'wall, {_median(on, 1) / _median(off, 1):.3f}x CPU); reduction: '
          f'{_median(red, 0):.2f} ms an epoch = '
          f'{_median(red, 0) / (args.epoch_iters * _median(off, 0)) * 100:.4f}% of '
          f'{args.epoch_iters} iterations')


if __name__ == '__main__':
    main()
