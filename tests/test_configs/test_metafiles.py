"""model-index.yml and the metafiles: every config they name exists, every shipped leaf config
(outside _base_/ and demo/) is named once, and each metafile's README exists."""
import glob
import os.path as osp

import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _metafiles():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        return [osp.join(REPO, p) for p in yaml.safe_load(f)['Import']]


def test_every_listed_config_exists_and_every_leaf_is_listed():
    listed = []
    for path in _metafiles():
        assert osp.isfile(path), path
        with open(path) as f:
            meta = yaml.safe_load(f)
        for collection in meta['Collections']:
            assert osp.isfile(osp.join(REPO, collection['README'])), collection['README']
        names = [m['Name'] for m in meta['Models']]
        assert len(names) == len(set(names)), path
        for model in meta['Models']:
            config = osp.join(REPO, model['Config'])
            assert osp.isfile(config), f'{path}: {model["Config"]}'
            assert osp.splitext(osp.basename(config))[0] == model['Name']
            listed.append(osp.relpath(config, REPO))
    shipped = [
        osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                                recursive=True)
        if '_base_' not in p.split(osp.sep) and 'demo' not in p.split(osp.sep)
    ]
    assert sorted(listed) == sorted(shipped)


def test_targets_are_labelled_as_not_measured():
    # every number in a metafile is a target quoted from the paper or MMDetection
    for path in _metafiles():
        with open(path) as f:
            meta = yaml.safe_load(f)
        for model in meta['Models']:
            for result in model.get('Results', []):
                for metric in result['Metrics']:
                    assert 'paper' in metric or 'target' in metric, (path, metric)
