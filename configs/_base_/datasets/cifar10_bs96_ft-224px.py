# CIFAR-10: the python pickles of cifar-10-python.tar.gz, data/cifar10/cifar-10-batches-py/.
# 50,000 train / 10,000 test images of 32 x 32, upsampled to 224 by the crop (train) and the
# resize (test), as DeiT fine-tunes CIFAR. The images come as arrays (BGR, like a loaded file),
# so the pipelines are the shared ones without LoadImageFromFile.
_base_ = ['./transfer_bs96_224px.py']

data_preprocessor = dict(num_classes=10)

train_pipeline = [
    dict(type='TimmRandomResizedCrop', scale=224, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=224,
         interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    dataset=dict(
        type='CIFAR10Offline',
        data_root='data/cifar10',
        split='train',
        data_prefix='cifar-10-batches-py',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type='CIFAR10Offline',
        data_root='data/cifar10',
        split='test',
        data_prefix='cifar-10-batches-py',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
