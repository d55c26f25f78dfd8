# iNaturalist 2019: data/inat2019/{train2019.json, val2019.json, train_val2019/} (the official
# files). 1,010 species; evaluated on val2019.json (the test set's labels are not public).
_base_ = ['./transfer_bs96_224px.py']

data_preprocessor = dict(num_classes=1010)

# The json's file_name entries start with train_val2019/, relative to the root.
train_dataloader = dict(
    dataset=dict(type='INaturalist2019', data_root='data/inat2019', ann_file='train2019.json'))
val_dataloader = dict(
    dataset=dict(type='INaturalist2019', data_root='data/inat2019', ann_file='val2019.json'))
test_dataloader = val_dataloader
