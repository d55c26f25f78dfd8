# Runtime shared by rsb_mm's MMPretrain-scope configs (pretraining and transfer).
default_scope = 'mmpretrain'
# Registers rsb_mm's modules (and its checkpoint allow-list) in every process that builds
# from this config, also when a user's own script loads it.
custom_imports = dict(imports=['rsb_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the last 3 epoch checkpoints and the best one; resume with `--resume auto`.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # rsb_mm switches to gloo by itself on a machine without a GPU.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
