# Stanford Cars: data/stanfordcars/{cars_train/, cars_test/, devkit/,
# cars_test_annos_withlabels.mat} (the labelled test file may also sit in devkit/).
# 8,144 train / 8,041 test images, 196 classes. StanfordCarsDevkit: see rsb_mm/datasets/
# stanford_cars.py for what it fixes in MMPretrain's StanfordCars.
_base_ = ['./transfer_bs96_224px.py']

data_preprocessor = dict(num_classes=196)

train_dataloader = dict(
    dataset=dict(
        type='StanfordCarsDevkit',
        data_root='data/stanfordcars',
        split='train',
        ann_file='devkit/cars_train_annos.mat',
        data_prefix='cars_train'))
# ann_file found by the class: devkit/ or the root (see rsb_mm/datasets/stanford_cars.py)
val_dataloader = dict(
    dataset=dict(
        type='StanfordCarsDevkit',
        data_root='data/stanfordcars',
        split='test',
        data_prefix='cars_test'))
test_dataloader = val_dataloader
