# Oxford Flowers-102: data/flowers102/{jpg/, imagelabels.mat, setid.mat} (the official files).
# Train on train + val (trnid + valid: 2,040 images, the paper's train size), test on tstid
# (6,149). MMPretrain's Flowers102 reads these files as published.
_base_ = ['./transfer_bs96_224px.py']

data_preprocessor = dict(num_classes=102)

train_dataloader = dict(
    dataset=dict(type='Flowers102', data_root='data/flowers102', split='trainval'))
val_dataloader = dict(dataset=dict(type='Flowers102', data_root='data/flowers102', split='test'))
test_dataloader = val_dataloader
