"""``tools/convert_weights.py`` and ``tools/publish_model.py`` run as a user runs them
(subprocesses on tmp files): a one-line summary and a loadable file, or a refusal naming the
keys with a non-zero exit; a published file named with its own hash."""
import hashlib
import os
import os.path as osp
import re
import runpy
import subprocess
import sys

import pytest
import timm
import torch

from rsb_mm.weights import save_state_dict_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(tool, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', tool), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_convert_weights_cli(tmp_path):
    torch.manual_seed(0)
    timm_sd = timm.create_model('resnet18').state_dict()
    src = tmp_path / 'resnet18_timm.safetensors'
    save_state_dict_file(timm_sd, str(src))
    dst = tmp_path / 'resnet18_mmdet.pth'
    proc = _run('convert_weights.py', src, dst, '--dst-format', 'mmdet')
    assert proc.returncode == 0, proc.stderr
    # The summary is the last line (MMEngine's logger may print before it).
    assert proc.stdout.strip().splitlines()[-1] == (
        f'timm -> mmdet resnet18: 120 keys converted, head (1000 classes) dropped: the mmdet '
        f'format is a backbone without a classifier -> {dst}')
    state = torch.load(dst)['state_dict']  # default weights_only=True
    assert len(state) == 120
    assert torch.equal(state['backbone.layer4.1.conv2.weight'], timm_sd['layer4.1.conv2.weight'])

    # A state dict missing a key is refused: exit status 1, the key in the message, no file.
    # (Through the tool's main() in this process: a third interpreter start costs more than
    # the rest of the test; the subprocess above already covers the entry point.)
    del timm_sd['layer2.1.bn2.running_var']
    bad = tmp_path / 'truncated.pth'
    torch.save(timm_sd, bad)
    out = tmp_path / 'never.pth'
    tool = runpy.run_path(osp.join(REPO, 'tools', 'convert_weights.py'))
    with pytest.raises(SystemExit) as info:
        tool['main']([str(bad), str(out), '--src-format', 'timm', '--dst-format', 'mmpretrain',
                      '--arch', 'resnet18'])
    assert info.value.code != 0  # sys.exit(message) exits with status 1
    assert 'backbone.layer2.1.bn2.running_var' in str(info.value.code)
    assert not out.exists()


def test_publish_model_cli(tmp_path):
    sd = timm.create_model('resnet18').state_dict()
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'epoch': 1, 'iter': 2, 'seed': 0, 'cfg': 'model = dict()'},
                'state_dict': sd, 'optimizer': {'state': {}, 'param_groups': []},
                'message_hub': {'runtime_info': {}}}, ckpt)
    proc = _run('publish_model.py', ckpt, tmp_path / 'rsb_resnet18', '--safetensors')
    assert proc.returncode == 0, proc.stderr
    pth, st = proc.stdout.strip().splitlines()[-2:]
    match = re.fullmatch(re.escape(str(tmp_path)) + r'/rsb_resnet18_\d{8}-([0-9a-f]{8})\.pth',
                         pth)
    assert match, pth
    with open(pth, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == match.group(1)
    assert st.endswith('.safetensors') and osp.isfile(st)
    published = torch.load(pth)
    assert set(published) == {'meta', 'state_dict'}
    assert 'seed' not in published['meta'] and published['meta']['epoch'] == 1
