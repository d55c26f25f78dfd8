"""inference_model: a real photo through the A3 config's test pipeline gives the top-k of a
manual forward (same pipeline, hand-written normalisation and head), softmax scores that sum
to 1, and ImageNet class names."""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from rsb_mm.apis import get_model, inference_model

CONFIG = 'configs/rsb_a3_resnet50.py'


@pytest.fixture(scope='module')
def model_and_photo(tmp_path_factory):
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp('inference')
    photo = str(root / 'astronaut.jpg')
    Image.fromarray(data.astronaut()).save(photo, format='JPEG', quality=90)
    torch.manual_seed(0)
    random_model = get_model(CONFIG)
    random_model.init_weights()
    checkpoint = str(root / 'random_a3.pth')
    torch.save({'state_dict': random_model.state_dict(), 'meta': {}}, checkpoint)
    return get_model(CONFIG, checkpoint), photo


def _manual_scores(model, photo):
    cfg = model._config
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        packed = Compose(cfg.test_dataloader.dataset.pipeline)(dict(img_path=photo))
    img = packed['inputs']  # uint8 CHW, BGR as mmcv decodes
    assert tuple(img.shape) == (3, 224, 224)
    mean = torch.tensor(cfg.data_preprocessor.mean).view(3, 1, 1)
    std = torch.tensor(cfg.data_preprocessor.std).view(3, 1, 1)
    x = ((img.flip(0).float() - mean) / std)[None]
    with torch.no_grad():
        logits = model.head.fc(model.neck(model.backbone(x))[-1])
    return logits.softmax(-1)[0]


def test_topk_of_a_photo_matches_a_manual_forward(model_and_photo):
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

    model, photo = model_and_photo
    results = inference_model(model, photo, topk=5)
    manual = _manual_scores(model, photo)
    values, labels = manual.topk(5)
    assert [r['pred_label'] for r in results] == labels.tolist()
    np.testing.assert_allclose([r['pred_score'] for r in results], values.numpy(), rtol=1e-5)
    assert [r['pred_class'] for r in results] == [IMAGENET_CATEGORIES[i] for i in labels]

    # LinearClsHead.predict is a softmax (RSB trains with BCE, but ranks the same): all 1000
    # scores sum to 1, best first.
    everything = inference_model(model, photo, topk=1000)
    scores = [r['pred_score'] for r in everything]
    assert abs(sum(scores) - 1) < 1e-4
    assert scores == sorted(scores, reverse=True)


def test_a_bgr_array_gives_the_same_result_as_the_file(model_and_photo):
    model, photo = model_and_photo
    bgr = mmcv.imread(photo, flag='color_ignore_orientation')
    assert inference_model(model, bgr, topk=3) == inference_model(model, photo, topk=3)


def test_bad_inputs(model_and_photo, tmp_path):
    model, photo = model_and_photo
    with pytest.raises(ValueError, match='topk must be a positive int, got 0'):
        inference_model(model, photo, topk=0)
    with pytest.raises(ValueError, match=r'at most the number of classes \(1000\), got 1001'):
        inference_model(model, photo, topk=1001)
    with pytest.raises(ValueError, match='HxWx3 uint8 BGR array'):
        inference_model(model, np.zeros((8, 8), np.uint8))
    with pytest.raises(TypeError, match='needs a classifier'):
        inference_model(model.backbone, photo)
