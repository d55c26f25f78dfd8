# Runtime shared by rsb_mm's MMPretrain-scope configs (pretraining and transfer).
default_scope = 'mmpretrain'
# Registers rsb_mm's modules (and its checkpoint allow-list) in every process that builds
# from this config, also when a user's own script loads it.
custom_imports = dict(imports=['rsb_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the last 3 epoch checkpoints, the best one and the latest of those written every
    # 200 iterations inside epochs: a crash costs at most 200 iterations (~3.5 min of RSB A1,
    # 625 iterations an epoch, at the paper's 110 h for 600 epochs). Written atomically, with
    # every rank's random states; `--resume auto` resumes at the exact batch with
    # ResumableEpochBasedTrainLoop (README, "When things go wrong").
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='auto',
        iter_interval=200,
        max_keep_iter_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

custom_hooks = [
    # A NaN/Inf loss stops the run before its step is applied (the last checkpoint stays the
    # last good one); action='skip' drops such steps and counts them instead.
    dict(type='NonFiniteLossHook', action='stop'),
    # With LoadImageFromFileChecked(on_error='skip'): unreadable images skipped, per epoch.
    dict(type='UnreadableImageCountHook'),
    # timm's `--dist-bn reduce` (its default): at every epoch end, before the epoch's checkpoint
    # and the evaluation, each BatchNorm running mean / variance becomes the mean over ranks
    # (MMEngine's hook; priority NORMAL runs before the checkpoint hook's VERY_LOW).
    dict(type='SyncBuffersHook'),
]

# DDP as timm's train.py builds it: `broadcast_buffers=True` (PyTorch's default; MMEngine's
# default wrapper turns it off), so every forward starts from rank 0's BatchNorm statistics.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', broadcast_buffers=True, find_unused_parameters=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # rsb_mm switches to gloo by itself on a machine without a GPU. A rank that waits longer
    # than `timeout` seconds in a collective (a peer died or hangs) fails instead of waiting
    # forever; 30 min leaves room for rank 0 writing a checkpoint or a slow evaluation.
    dist_cfg=dict(backend='nccl', timeout=1800),
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
# One random stream per rank, as timm's `random_seed(seed, rank)`: rank r is seeded with
# seed + r (MMEngine's diff_rank_seed), so ranks draw different Mixup/CutMix parameters and
# drop-path masks, and their DataLoader workers are seeded apart. The samplers' index order
# does not depend on it: they are seeded with `seed=0` + epoch in the data configs (timm's).
randomness = dict(seed=None, diff_rank_seed=True, deterministic=False)
