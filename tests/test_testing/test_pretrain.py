"""pretrain_tiny_checkpoint runs the real A3 config and saves a full runner checkpoint."""
import torch

from rsb_mm.weights.safe_load import allow_runner_checkpoints


def test_checkpoint_is_a_runner_checkpoint_of_resnet50(rsb_checkpoint):
    allow_runner_checkpoints()
    ckpt = torch.load(rsb_checkpoint, map_location='cpu', weights_only=True)
    assert {'meta', 'state_dict', 'optimizer', 'param_schedulers'} <= set(ckpt)
    state = ckpt['state_dict']
    assert state['backbone.conv1.weight'].shape == (64, 3, 7, 7)
    assert state['backbone.layer4.2.conv3.weight'].shape == (2048, 512, 1, 1)
    assert state['head.fc.weight'].shape == (1000, 2048)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 1
    # LAMB has taken one step: its state is there
    assert ckpt['optimizer']['state']
