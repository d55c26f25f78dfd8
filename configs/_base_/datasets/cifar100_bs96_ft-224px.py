# CIFAR-100 (fine labels): the python pickles of cifar-100-python.tar.gz,
# data/cifar100/cifar-100-python/. Everything else (32 x 32 arrays upsampled to 224, the
# pipelines, the loaders) as CIFAR-10's base.
_base_ = ['./cifar10_bs96_ft-224px.py']

data_preprocessor = dict(num_classes=100)

cifar100 = dict(type='CIFAR100Offline', data_root='data/cifar100',
                data_prefix='cifar-100-python')
train_dataloader = dict(dataset=cifar100)
val_dataloader = dict(dataset=cifar100)
test_dataloader = dict(dataset=cifar100)
